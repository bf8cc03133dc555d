//===- AttentionKernel.cpp - causal GQA attention over the KV cache -------===//
//
// One block of four warps per (query head, query row). The block scores the
// row's query against every cached key up to its position (a thread per
// key, its row read in 16-byte loads), keeps the scores in shared memory,
// takes a numerically safe softmax with block reductions, then sums the
// values: a thread owns 16 bytes of the head dimension for a group of keys,
// with four keys' loads in flight, and the groups meet in shared memory.
// Decode has few blocks (one per head), so memory-level parallelism inside
// the block is what keeps it fast. Query heads map to
// KV heads in groups (GQA): head h reads KV head h / (heads / kv_heads).
//
// The same kernel serves prefill (rows = the chunk, row r at position
// pos + r; padding rows past n_valid produce zeros) and decode (one row).
// The scores of a row live in shared memory, which bounds the context to
// what fits; the flash-decoding split over the KV length is issue 5's.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilders.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/FormatVariadic.h"

#include <limits>

using namespace mlir;
using namespace monocard::gpu_kernels;

KernelLaunch KernelLibrary::attention(int64_t rows, int64_t heads,
                                      int64_t kvHeads, int64_t dim,
                                      int64_t capacity, double scale,
                                      bool hasValidRows, Type qT, Type kvT,
                                      Type outT, std::string &why) {
  constexpr int64_t block = 128, warps = block / 32, kUnroll = 4;
  // Static shared memory is limited to 48 KiB per block.
  constexpr int64_t maxSharedFloats = 48 * 1024 / 4;
  if (dim > block || block % dim) {
    why = llvm::formatv("head dimension {0} is not supported by the CUDA "
                        "attention kernel (it needs a divisor of {1})",
                        dim, block);
    return {};
  }
  if (capacity + dim + 32 + block * 8 > maxSharedFloats) {
    why = llvm::formatv("a context of {0} positions does not fit the CUDA "
                        "attention kernel's shared memory (at most {1})",
                        capacity, maxSharedFloats - dim - 32 - block * 8);
    return {};
  }
  // Each thread of the value sum owns `vw` dims (16 bytes of a cached row);
  // `chunks` threads cover a row, `groups` of them split the keys.
  int64_t vw = 128 / kvT.getIntOrFloatBitWidth();
  while (vw > 1 && dim % vw)
    vw /= 2;
  int64_t chunks = dim / vw, groups = block / chunks;
  int64_t perKv = heads / kvHeads;
  std::string scaleName = llvm::formatv("{0:e}", scale);
  for (char &c : scaleName)
    if (c == '.' || c == '+' || c == '-')
      c = c == '.' ? 'd' : (c == '+' ? 'p' : 'm');
  std::string name = llvm::formatv(
      "attention_r{0}_h{1}_kv{2}_d{3}_s{4}_sc{5}{6}_{7}_{8}_{9}", rows, heads,
      kvHeads, dim, capacity, scaleName, hasValidRows ? "_nvalid" : "",
      typeName(qT), typeName(kvT), typeName(outT));
  Type cacheType = flat(kvHeads * capacity * dim, kvT);
  auto fn = getOrBuild(
      name,
      {flat(rows * heads * dim, qT), cacheType, cacheType,
       flat(rows * heads * dim, outT), scalarsType()},
      {capacity, dim, 32, groups * dim}, block,
      [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
        auto &b = e.builder();
        Value q = a[0], kc = a[1], vc = a[2], out = a[3], scalars = a[4];
        Value scores = wg[0], qs = wg[1], scratch = wg[2], part = wg[3];
        Value tid = e.threadId();
        Value h = e.blockId(gpu::Dimension::x);
        Value r = e.blockId(gpu::Dimension::y);
        Value kvh = e.div(h, e.idx(perKv));
        Value pos = e.i32ToIndex(
            memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
        Value len = e.min(e.add(e.add(pos, r), e.idx(1)), e.idx(capacity));
        Value rowBase = e.mul(e.add(e.mul(r, e.idx(heads)), h), e.idx(dim));
        Value cacheBase = e.mul(kvh, e.idx(capacity * dim));

        auto body = [&] {
          e.forRange(tid, e.idx(dim), e.idx(block), [&](Value d) {
            Value v = e.fmul(e.load(q, e.add(rowBase, d)), e.f32(scale));
            memref::StoreOp::create(b, v, qs, ValueRange{d});
          });
          e.barrier();
          // Scores, a thread per key: the key's row in 16-byte loads, all
          // issued before the products (the loop over d is unrolled).
          Value localMax =
              e.forRange(tid, len, e.idx(block),
                         {e.f32(-std::numeric_limits<float>::infinity())},
                         [&](Value j, ValueRange it) -> SmallVector<Value> {
                           Value keyBase =
                               e.add(cacheBase, e.mul(j, e.idx(dim)));
                           SmallVector<Value> ks;
                           for (int64_t d = 0; d < dim; d += vw)
                             ks.push_back(e.loadVector(
                                 kc, e.add(keyBase, e.idx(d)), vw));
                           Value dot = e.f32(0);
                           for (int64_t c = 0; c < dim / vw; ++c)
                             for (int64_t l = 0; l < vw; ++l) {
                               Value qd = memref::LoadOp::create(
                                   b, qs, ValueRange{e.idx(c * vw + l)});
                               Value kd = vector::ExtractOp::create(
                                   b, ks[c], ArrayRef<int64_t>{l});
                               dot = e.fma(qd, kd, dot);
                             }
                           memref::StoreOp::create(b, dot, scores,
                                                   ValueRange{j});
                           return {e.fmax(it[0], dot)};
                         })[0];
          Value mx = e.blockMax(localMax, scratch, warps);
          Value localSum =
              e.forRange(tid, len, e.idx(block), {e.f32(0)},
                         [&](Value j, ValueRange acc) -> SmallVector<Value> {
                           Value s = memref::LoadOp::create(b, scores,
                                                            ValueRange{j});
                           Value p = e.exp(e.fsub(s, mx));
                           memref::StoreOp::create(b, p, scores,
                                                   ValueRange{j});
                           return {e.fadd(acc[0], p)};
                         })[0];
          Value total = e.blockSum(localSum, scratch, warps);
          // Weighted values: thread (g, c) owns dims c*vw .. c*vw+vw-1 and
          // sums keys g, g + groups, ...; four keys per iteration so four
          // 16-byte loads are in flight (past the end: clamped, weight 0).
          Value g = e.div(tid, e.idx(chunks)), c = e.rem(tid, e.idx(chunks));
          Value last = e.sub(len, e.idx(1));
          Value acc = e.forRange(
              e.idx(0), len, e.idx(groups * kUnroll), {e.zeroVector(vw)},
              [&](Value j0, ValueRange it) -> SmallVector<Value> {
                SmallVector<Value> ps, vs;
                for (int64_t u = 0; u < kUnroll; ++u) {
                  Value j = e.add(e.add(j0, g), e.idx(u * groups));
                  Value jj = e.min(j, last);
                  Value p = memref::LoadOp::create(b, scores, ValueRange{jj});
                  ps.push_back(e.select(e.lt(j, len), p, e.f32(0)));
                  vs.push_back(e.loadVector(
                      vc,
                      e.add(cacheBase, e.add(e.mul(jj, e.idx(dim)),
                                             e.mul(c, e.idx(vw)))),
                      vw));
                }
                Value a = it[0];
                for (int64_t u = 0; u < kUnroll; ++u) {
                  Value pv = vector::BroadcastOp::create(
                      b, VectorType::get({vw}, b.getF32Type()), ps[u]);
                  a = e.vfma(pv, vs[u], a);
                }
                return {a};
              })[0];
          for (int64_t l = 0; l < vw; ++l) {
            Value el = vector::ExtractOp::create(b, acc, ArrayRef<int64_t>{l});
            memref::StoreOp::create(
                b, el, part,
                ValueRange{e.add(e.mul(g, e.idx(dim)),
                                 e.add(e.mul(c, e.idx(vw)), e.idx(l)))});
          }
          e.barrier();
          e.ifThen(e.lt(tid, e.idx(dim)), [&] {
            Value o = memref::LoadOp::create(b, part, ValueRange{tid});
            for (int64_t gi = 1; gi < groups; ++gi)
              o = e.fadd(o, memref::LoadOp::create(
                                b, part, ValueRange{e.add(tid, e.idx(gi * dim))}));
            e.store(out, e.add(rowBase, tid), e.fdiv(o, total));
          });
        };
        if (!hasValidRows) {
          body();
          return;
        }
        Value nValid = e.i32ToIndex(
            memref::LoadOp::create(b, scalars, ValueRange{e.idx(kNValid)}));
        // The condition depends on the block only: barriers stay uniform.
        e.ifThenElse(e.lt(r, nValid), body, [&] {
          e.forRange(tid, e.idx(dim), e.idx(block), [&](Value d) {
            e.store(out, e.add(rowBase, d), e.f32(0));
          });
        });
      });
  return {fn, {heads, rows, 1}, {block, 1, 1}};
}
