//===- Checksum.cpp - The .weights file's data checksum -------------------===//

#include "monocard/Runtime/Weights/Checksum.h"

#include "WorkerThreads.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <unistd.h>

using namespace monocard;

namespace {

constexpr uint64_t P1 = 0x9E3779B185EBCA87ull;
constexpr uint64_t P2 = 0xC2B2AE3D27D4EB4Full;
constexpr uint64_t P3 = 0x165667B19E3779F9ull;
constexpr uint64_t P4 = 0x85EBCA77C2B2AE63ull;

inline uint64_t rotl(uint64_t V, unsigned R) {
  return (V << R) | (V >> (64 - R));
}

inline uint64_t load64(const unsigned char *P) {
  uint64_t V = 0;
  for (int I = 7; I >= 0; --I)
    V = V << 8 | P[I];
  return V;
}

/// XXH64's round: one 64-bit word into one lane.
inline uint64_t round64(uint64_t Acc, uint64_t In) {
  return rotl(Acc + In * P2, 31) * P1;
}

/// Folds \p V into the running hash \p H (XXH64's merge step).
inline uint64_t merge(uint64_t H, uint64_t V) {
  return (H ^ round64(0, V)) * P1 + P4;
}

/// XXH64's final avalanche: every input bit reaches every output bit.
inline uint64_t avalanche(uint64_t H) {
  H ^= H >> 33;
  H *= P2;
  H ^= H >> 29;
  H *= P3;
  return H ^ (H >> 32);
}

/// Runs \p Work(I, Buffer) for I in [0, N) on the worker threads, each
/// taking the next index; stops at the first false. Returns whether all
/// returned true.
bool forEachBlock(
    uint64_t N,
    const std::function<bool(uint64_t, std::vector<unsigned char> &)> &Work) {
  std::atomic<uint64_t> Next{0};
  std::atomic<bool> Ok{true};
  auto Run = [&] {
    std::vector<unsigned char> Buffer;
    while (Ok.load(std::memory_order_relaxed)) {
      uint64_t I = Next.fetch_add(1, std::memory_order_relaxed);
      if (I >= N)
        return;
      if (!Work(I, Buffer))
        Ok.store(false);
    }
  };
  runOnThreads(workerThreads(N), Run);
  return Ok.load();
}

} // namespace

uint64_t monocard::hashBlock(const unsigned char *P, size_t N, uint64_t Index) {
  uint64_t V[4] = {Index + P1 + P2, Index + P2, Index, Index - P1};
  size_t I = 0;
  // Four independent lanes keep the multipliers busy.
  for (; I + 32 <= N; I += 32)
    for (int L = 0; L < 4; ++L)
      V[L] = round64(V[L], load64(P + I + 8 * L));
  uint64_t H = rotl(V[0], 1) + rotl(V[1], 7) + rotl(V[2], 12) + rotl(V[3], 18);
  for (int L = 0; L < 4; ++L)
    H = merge(H, V[L]);
  for (; I + 8 <= N; I += 8)
    H = rotl(H ^ round64(0, load64(P + I)), 27) * P1 + P4;
  if (I < N) {
    unsigned char Tail[8] = {};
    std::memcpy(Tail, P + I, N - I);
    H = rotl(H ^ round64(0, load64(Tail)), 27) * P1 + P4;
  }
  return avalanche(H + N);
}

uint64_t monocard::combineBlockHashes(const std::vector<uint64_t> &Blocks,
                                      uint64_t Bytes) {
  uint64_t H = P3;
  for (uint64_t B : Blocks)
    H = rotl(H ^ round64(0, B), 27) * P1 + P4;
  return avalanche(H + Bytes);
}

std::vector<uint64_t> monocard::hashMemoryBlocks(const unsigned char *P,
                                                 uint64_t Bytes) {
  std::vector<uint64_t> Out(checksumBlocks(Bytes));
  forEachBlock(Out.size(), [&](uint64_t I, std::vector<unsigned char> &) {
    uint64_t Begin = I * WeightsChecksumBlock;
    Out[I] =
        hashBlock(P + Begin, std::min(WeightsChecksumBlock, Bytes - Begin), I);
    return true;
  });
  return Out;
}

bool monocard::hashFileBlocks(int Fd, uint64_t Begin, uint64_t Bytes,
                              const std::string &Path,
                              std::vector<uint64_t> &Out, std::string &Error) {
  Out.assign(checksumBlocks(Bytes), 0);
  std::atomic<int> Errno{0};
  bool Ok = forEachBlock(Out.size(), [&](uint64_t I,
                                         std::vector<unsigned char> &Buf) {
    uint64_t At = I * WeightsChecksumBlock;
    size_t N = static_cast<size_t>(std::min(WeightsChecksumBlock, Bytes - At));
    Buf.resize(N);
    for (size_t Got = 0; Got < N;) {
      ssize_t R = ::pread(Fd, Buf.data() + Got, N - Got,
                          static_cast<off_t>(Begin + At + Got));
      if (R < 0 && errno == EINTR)
        continue;
      if (R <= 0) {
        Errno.store(R < 0 ? errno : EIO);
        return false;
      }
      Got += static_cast<size_t>(R);
    }
    Out[I] = hashBlock(Buf.data(), N, I);
    return true;
  });
  if (!Ok)
    Error = "cannot read back '" + Path + "': " + std::strerror(Errno.load());
  return Ok;
}
