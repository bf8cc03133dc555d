//===- MemoryPlan.h - buffer placement over live intervals ---*- C++ -*-===//
//
// The pure half of the memory plan: given each buffer's byte size and the
// closed interval of program positions where it is live, choose a byte offset
// for every buffer inside one arena so that two buffers whose intervals
// overlap never share a byte. No MLIR here: `tfm-plan-memory` feeds it the
// intervals of a step function, and a target that plans device memory can
// call it with its own.
//
// The placement is greedy by size with best fit (TensorFlow Lite's arena
// planner): buffers in order of decreasing size (ties: earlier start, then
// input order); each goes into the smallest gap, among the buffers already
// placed whose intervals overlap its own, that fits it, or above the highest
// of them if no gap fits. Deterministic: the same input gives the same plan.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_DIALECT_TFM_TRANSFORMS_MEMORYPLAN_H
#define MONOCARD_DIALECT_TFM_TRANSFORMS_MEMORYPLAN_H

#include <cstdint>
#include <string>
#include <vector>

namespace monocard::memplan {

/// One buffer to place: `bytes` (before alignment) live over the closed
/// interval [start, end] of program positions (start <= end). Two buffers
/// conflict iff their intervals share a position.
struct BufferRequest {
  int64_t bytes = 0;
  int64_t start = 0;
  int64_t end = 0;
};

/// Where one buffer lives: `size` is its byte size rounded up to the
/// alignment, `offset` a multiple of the alignment.
struct BufferPlacement {
  int64_t offset = 0;
  int64_t size = 0;
};

struct MemoryPlan {
  /// max(offset + size) over all buffers, and at least `alignment` (so that an
  /// empty plan still names a valid, non-empty arena).
  int64_t arenaBytes = 0;
  /// The largest sum of (aligned) sizes of buffers live at one position: no
  /// placement can use fewer bytes.
  int64_t lowerBound = 0;
  /// The sum of all aligned sizes: what giving every buffer its own bytes
  /// would take.
  int64_t naiveBytes = 0;
  /// One entry per request, in request order.
  std::vector<BufferPlacement> buffers;
};

/// Rounds `bytes` up to a multiple of `alignment` (> 0).
int64_t alignUp(int64_t bytes, int64_t alignment);

/// Places `requests` in one arena. `alignment` must be a positive power of
/// two; every size is rounded up to it and every offset is a multiple of it.
MemoryPlan planMemory(const std::vector<BufferRequest> &requests,
                      int64_t alignment);

/// Checks a plan against its requests: aligned sizes and offsets, no two
/// buffers with overlapping intervals sharing a byte, every buffer inside the
/// arena, and the summary numbers consistent. Returns an empty string when the
/// plan is valid, else a sentence naming the first problem. For tests and
/// assertions.
std::string verifyMemoryPlan(const std::vector<BufferRequest> &requests,
                             const MemoryPlan &plan, int64_t alignment);

} // namespace monocard::memplan

#endif // MONOCARD_DIALECT_TFM_TRANSFORMS_MEMORYPLAN_H
