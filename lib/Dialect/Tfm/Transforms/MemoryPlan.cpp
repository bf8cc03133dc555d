//===- MemoryPlan.cpp - static buffer placement over live intervals -------===//
//
// Greedy by size, best fit (see MemoryPlan.h and docs/memory-plan.md).
//
//===----------------------------------------------------------------------===//

#include "monocard/Dialect/Tfm/Transforms/MemoryPlan.h"

#include <algorithm>
#include <cassert>
#include <limits>
#include <numeric>
#include <utility>

namespace monocard::memplan {

int64_t alignUp(int64_t bytes, int64_t alignment) {
  assert(alignment > 0 && "alignment must be positive");
  return (bytes + alignment - 1) / alignment * alignment;
}

namespace {

bool overlaps(const BufferRequest &a, const BufferRequest &b) {
  return a.start <= b.end && b.start <= a.end;
}

/// The largest sum of `sizes` live at one position: a sweep over interval
/// boundaries, where a buffer live over [s, e] enters at s and leaves at e+1.
int64_t liveLowerBound(const std::vector<BufferRequest> &requests,
                       const std::vector<int64_t> &sizes) {
  std::vector<std::pair<int64_t, int64_t>> events; // (position, delta)
  events.reserve(2 * requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    events.emplace_back(requests[i].start, sizes[i]);
    events.emplace_back(requests[i].end + 1, -sizes[i]);
  }
  // At one position, leaving (negative delta) sorts before entering.
  std::sort(events.begin(), events.end());
  int64_t live = 0, best = 0;
  for (const auto &[position, delta] : events) {
    (void)position;
    live += delta;
    best = std::max(best, live);
  }
  return best;
}

} // namespace

MemoryPlan planMemory(const std::vector<BufferRequest> &requests,
                      int64_t alignment) {
  assert(alignment > 0 && (alignment & (alignment - 1)) == 0 &&
         "alignment must be a positive power of two");
  const size_t n = requests.size();
  MemoryPlan plan;
  plan.buffers.resize(n);

  std::vector<int64_t> sizes(n);
  for (size_t i = 0; i < n; ++i) {
    assert(requests[i].bytes >= 0 && requests[i].start <= requests[i].end &&
           "malformed buffer request");
    sizes[i] = alignUp(requests[i].bytes, alignment);
    plan.buffers[i].size = sizes[i];
    plan.naiveBytes += sizes[i];
  }
  plan.lowerBound = liveLowerBound(requests, sizes);

  // Largest first; ties: earlier start, then input order.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t(0));
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (sizes[a] != sizes[b])
      return sizes[a] > sizes[b];
    if (requests[a].start != requests[b].start)
      return requests[a].start < requests[b].start;
    return a < b;
  });

  // Buffers placed so far, kept sorted by (offset, placement rank) so that
  // the gap scan below walks the arena bottom-up.
  std::vector<size_t> placed;
  placed.reserve(n);
  int64_t arenaBytes = 0;
  for (size_t i : order) {
    const int64_t size = sizes[i];
    int64_t bestOffset = -1;
    int64_t bestGap = std::numeric_limits<int64_t>::max();
    // `cursor` is the lowest byte above every conflicting buffer seen so far.
    int64_t cursor = 0;
    for (size_t j : placed) {
      if (!overlaps(requests[i], requests[j]))
        continue;
      const int64_t offset = plan.buffers[j].offset;
      const int64_t gap = offset - cursor;
      if (gap >= size && gap < bestGap) {
        bestGap = gap;
        bestOffset = cursor;
      }
      cursor = std::max(cursor, alignUp(offset + sizes[j], alignment));
    }
    if (bestOffset < 0)
      bestOffset = cursor;
    plan.buffers[i].offset = bestOffset;
    arenaBytes = std::max(arenaBytes, bestOffset + size);

    auto pos = std::upper_bound(
        placed.begin(), placed.end(), i, [&](size_t a, size_t b) {
          return plan.buffers[a].offset < plan.buffers[b].offset;
        });
    placed.insert(pos, i);
  }
  plan.arenaBytes = std::max(arenaBytes, alignment);
  return plan;
}

std::string verifyMemoryPlan(const std::vector<BufferRequest> &requests,
                             const MemoryPlan &plan, int64_t alignment) {
  auto str = [](int64_t v) { return std::to_string(v); };
  if (plan.buffers.size() != requests.size())
    return "plan has " + str(int64_t(plan.buffers.size())) + " buffers for " +
           str(int64_t(requests.size())) + " requests";
  int64_t naive = 0;
  for (size_t i = 0; i < requests.size(); ++i) {
    const BufferPlacement &b = plan.buffers[i];
    if (b.size != alignUp(requests[i].bytes, alignment))
      return "buffer " + str(int64_t(i)) + " has size " + str(b.size) +
             ", expected " + str(alignUp(requests[i].bytes, alignment));
    if (b.offset < 0 || b.offset % alignment != 0)
      return "buffer " + str(int64_t(i)) + " has misaligned offset " +
             str(b.offset);
    if (b.offset + b.size > plan.arenaBytes)
      return "buffer " + str(int64_t(i)) + " ends at " +
             str(b.offset + b.size) + ", past the arena (" +
             str(plan.arenaBytes) + " bytes)";
    naive += b.size;
    for (size_t j = 0; j < i; ++j) {
      const BufferPlacement &c = plan.buffers[j];
      if (!overlaps(requests[i], requests[j]) || b.size == 0 || c.size == 0)
        continue;
      if (b.offset < c.offset + c.size && c.offset < b.offset + b.size)
        return "buffers " + str(int64_t(j)) + " and " + str(int64_t(i)) +
               " are live together and share bytes";
    }
  }
  if (naive != plan.naiveBytes)
    return "naive_bytes is " + str(plan.naiveBytes) + ", expected " +
           str(naive);
  std::vector<int64_t> sizes;
  for (const BufferPlacement &b : plan.buffers)
    sizes.push_back(b.size);
  if (plan.lowerBound != liveLowerBound(requests, sizes))
    return "lower_bound is " + str(plan.lowerBound) + ", expected " +
           str(liveLowerBound(requests, sizes));
  if (plan.arenaBytes < plan.lowerBound)
    return "arena (" + str(plan.arenaBytes) +
           " bytes) is below the lower bound";
  return {};
}

} // namespace monocard::memplan
