//===- Perplexity.cpp - Teacher-forced scoring of a text ------------------===//

#include "monocard/Runtime/Cli/Perplexity.h"

#include "monocard/Runtime/Cli/Generate.h"

#include <chrono>
#include <cmath>
#include <cstring>

using namespace monocard;

std::vector<std::string> monocard::splitDocuments(std::string_view Text) {
  std::vector<std::string> Docs;
  std::string Cur;
  bool CurHasLines = false;
  auto Flush = [&]() {
    if (Cur.find_first_not_of(" \t\r\n\f\v") != std::string::npos)
      Docs.push_back(Cur);
    Cur.clear();
    CurHasLines = false;
  };
  size_t Start = 0;
  while (Start < Text.size()) {
    size_t End = Text.find('\n', Start);
    std::string_view Line = Text.substr(Start, End == std::string_view::npos
                                                   ? std::string_view::npos
                                                   : End - Start);
    Start = End == std::string_view::npos ? Text.size() : End + 1;
    if (Line == "%" || Line == "%\r") {
      Flush();
      continue;
    }
    if (CurHasLines)
      Cur += '\n';
    Cur.append(Line.data(), Line.size());
    CurHasLines = true;
  }
  Flush();
  return Docs;
}

double monocard::tokenNll(const float *Logits, int64_t VocabSize,
                          int32_t Target, int32_t &Argmax) {
  Argmax = 0;
  double Max = Logits[0];
  bool Finite = true;
  for (int64_t I = 0; I < VocabSize; ++I) {
    Finite &= std::isfinite(Logits[I]);
    if (Logits[I] > Max) {
      Max = Logits[I];
      Argmax = static_cast<int32_t>(I);
    }
  }
  if (!Finite)
    return std::nan("");
  double Sum = 0;
  for (int64_t I = 0; I < VocabSize; ++I)
    Sum += std::exp(static_cast<double>(Logits[I]) - Max);
  // log softmax(x)[t] = x[t] - max - log(sum exp(x - max)); Sum >= 1.
  return std::log(Sum) - (static_cast<double>(Logits[Target]) - Max);
}

bool monocard::scoreDocuments(
    ModelRunner &Runner, const std::vector<std::vector<int32_t>> &Documents,
    PerplexityResult &Result, std::string &Error) {
  const ModelInfo &Info = Runner.info();
  Result = PerplexityResult();
  auto T0 = std::chrono::steady_clock::now();
  for (size_t D = 0; D < Documents.size(); ++D) {
    const std::vector<int32_t> &Doc = Documents[D];
    int64_t N = static_cast<int64_t>(Doc.size());
    if (N > Info.MaxSeq) {
      N = Info.MaxSeq;
      ++Result.Truncated;
    }
    if (N < 2) {
      ++Result.Skipped;
      continue;
    }
    ++Result.Documents;
    Runner.restart();
    for (int64_t I = 0; I + 1 < N; ++I) {
      if (!Runner.decode(Doc[I], Error))
        return false;
      const float *L = Runner.logits(Error);
      if (!L)
        return false;
      int32_t Arg = 0;
      double Nll = tokenNll(L, Info.VocabSize, Doc[I + 1], Arg);
      if (!(Nll == Nll)) {
        Error = "the model's logits are not finite (document " +
                std::to_string(D + 1) + ", position " + std::to_string(I) + ")";
        return false;
      }
      Result.NllSum += Nll;
      Result.Argmax.push_back(Arg);
      ++Result.Tokens;
    }
  }
  Result.Seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - T0)
          .count();
  return true;
}

std::string monocard::argmaxText(const std::vector<int32_t> &Ids) {
  std::string S;
  for (size_t I = 0; I < Ids.size(); ++I) {
    if (I)
      S += ',';
    S += std::to_string(Ids[I]);
  }
  return S;
}

//===----------------------------------------------------------------------===//
// SHA-256 (FIPS 180-4)
//===----------------------------------------------------------------------===//

namespace {

constexpr uint32_t K256[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
    0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
    0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
    0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
    0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
    0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
    0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
    0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2};

inline uint32_t rotr(uint32_t X, int N) { return (X >> N) | (X << (32 - N)); }

void compress(uint32_t H[8], const unsigned char *Block) {
  uint32_t W[64];
  for (int I = 0; I < 16; ++I)
    W[I] = uint32_t(Block[4 * I]) << 24 | uint32_t(Block[4 * I + 1]) << 16 |
           uint32_t(Block[4 * I + 2]) << 8 | uint32_t(Block[4 * I + 3]);
  for (int I = 16; I < 64; ++I) {
    uint32_t S0 = rotr(W[I - 15], 7) ^ rotr(W[I - 15], 18) ^ (W[I - 15] >> 3);
    uint32_t S1 = rotr(W[I - 2], 17) ^ rotr(W[I - 2], 19) ^ (W[I - 2] >> 10);
    W[I] = W[I - 16] + S0 + W[I - 7] + S1;
  }
  uint32_t A = H[0], B = H[1], C = H[2], D = H[3], E = H[4], F = H[5], G = H[6],
           Hh = H[7];
  for (int I = 0; I < 64; ++I) {
    uint32_t S1 = rotr(E, 6) ^ rotr(E, 11) ^ rotr(E, 25);
    uint32_t Ch = (E & F) ^ (~E & G);
    uint32_t T1 = Hh + S1 + Ch + K256[I] + W[I];
    uint32_t S0 = rotr(A, 2) ^ rotr(A, 13) ^ rotr(A, 22);
    uint32_t Maj = (A & B) ^ (A & C) ^ (B & C);
    uint32_t T2 = S0 + Maj;
    Hh = G;
    G = F;
    F = E;
    E = D + T1;
    D = C;
    C = B;
    B = A;
    A = T1 + T2;
  }
  H[0] += A;
  H[1] += B;
  H[2] += C;
  H[3] += D;
  H[4] += E;
  H[5] += F;
  H[6] += G;
  H[7] += Hh;
}

} // namespace

std::string monocard::sha256Hex(std::string_view Data) {
  uint32_t H[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  const auto *P = reinterpret_cast<const unsigned char *>(Data.data());
  size_t N = Data.size(), Full = N / 64 * 64;
  for (size_t I = 0; I < Full; I += 64)
    compress(H, P + I);
  // The tail, 0x80, zeros, then the message length in bits (big endian).
  unsigned char Tail[128] = {};
  size_t Rest = N - Full;
  if (Rest)
    std::memcpy(Tail, P + Full, Rest);
  Tail[Rest] = 0x80;
  size_t TailBytes = Rest + 1 + 8 <= 64 ? 64 : 128;
  uint64_t Bits = static_cast<uint64_t>(N) * 8;
  for (int I = 0; I < 8; ++I)
    Tail[TailBytes - 1 - I] = static_cast<unsigned char>(Bits >> (8 * I));
  for (size_t I = 0; I < TailBytes; I += 64)
    compress(H, Tail + I);
  static const char Hex[] = "0123456789abcdef";
  std::string Out;
  for (uint32_t V : H)
    for (int S = 28; S >= 0; S -= 4)
      Out += Hex[(V >> S) & 15];
  return Out;
}
