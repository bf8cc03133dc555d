//===- Checksum.h - The .weights file's data checksum -----------*- C++ -*-===//
//
// The bytes after a .weights file's header (tensors, tokenizer) are hashed in
// fixed 1 MiB blocks, each on its own (so blocks hash in parallel, at disk
// speed, and a damaged block can be named), with a 64-bit hash in the style
// of XXH64: four lanes of multiply-rotate rounds over little-endian 64-bit
// words. The file stores every block's hash in a table, and the header the
// table's hash, so that `--verify` checks the table first and then names the
// first block whose bytes no longer match (docs/packed-weights-format.md).
//
// Not cryptographic: it catches damage (bit rot, a torn copy, zeroed
// pages), not an adversary who rewrites the table too.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_RUNTIME_WEIGHTS_CHECKSUM_H
#define MONOCARD_RUNTIME_WEIGHTS_CHECKSUM_H

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace monocard {

/// Bytes per checksum block; the last block may be short.
constexpr uint64_t WeightsChecksumBlock = uint64_t(1) << 20;

/// The hash of block \p Index (its position: swapped blocks hash apart) of
/// \p N bytes at \p P.
uint64_t hashBlock(const unsigned char *P, size_t N, uint64_t Index);

/// The table's hash, recorded in the header: the block hashes folded in
/// order, then the number of bytes they cover.
uint64_t combineBlockHashes(const std::vector<uint64_t> &Blocks,
                            uint64_t Bytes);

/// Blocks in \p Bytes bytes.
inline uint64_t checksumBlocks(uint64_t Bytes) {
  return (Bytes + WeightsChecksumBlock - 1) / WeightsChecksumBlock;
}

/// Hashes the \p Bytes mapped at \p P, block by block, on a pool of threads.
std::vector<uint64_t> hashMemoryBlocks(const unsigned char *P, uint64_t Bytes);

/// Hashes \p Bytes bytes of the file \p Fd from \p Begin with pread, on a
/// pool of threads. On a read error returns false with a one-line \p Error
/// naming \p Path.
bool hashFileBlocks(int Fd, uint64_t Begin, uint64_t Bytes,
                    const std::string &Path, std::vector<uint64_t> &Out,
                    std::string &Error);

} // namespace monocard

#endif // MONOCARD_RUNTIME_WEIGHTS_CHECKSUM_H
