//===- AttentionKernel.cpp - GQA attention over the KV cache --------------===//
//
// Two kernels, both with an online softmax in f32 (a running maximum and
// sum per query, the accumulated values rescaled whenever the maximum
// grows), so nothing scales with the context and there is no length cap.
// Scores live in the log2 domain: the query is scaled by scale * log2(e) as
// it is loaded, so every exponential is one ex2.approx.
//
// Decode (one query row): a block per query head. Its threads form groups
// of L lanes (L a power of two) that each own one key at a time: lane c of
// a group holds 16 bytes of the key's row (vw elements; chunks c, c + L,
// ... when the row is longer than L * 16 bytes), so a warp's loads are
// whole rows, back to back. Every group walks its own slice of the keys
// (key j belongs to group j mod groups, U keys per step, their K and V rows
// loaded together: 2U 16-byte loads in flight per lane) with its own
// (max, sum, accumulator); the partial dot products meet through
// shuffles inside the group. At the end the groups of a warp merge through
// shuffles and the warps in shared memory:
// out = sum_w 2^(m_w - M) acc_w / sum_w 2^(m_w - M) l_w.
// Long contexts get 32 warps per block (memory-level parallelism: decode
// has only one block per head), short ones 4.
//
// Prefill (a chunk of rows): flash-style. A block takes BQ (32 or 64) query
// rows of one head (row tiles launched heaviest first; 32 when the chunk
// would otherwise give fewer blocks than a GPU has SMs) and walks the keys
// in tiles of BK up to the causal limit of its last valid row. SIMT f32
// FMAs, no tensor cores. Q (pre-scaled), the K and V tiles and the tile's
// probabilities are staged in dynamic shared memory as f32 (rows padded to 4
// mod 8 floats: conflict-free 16-byte accesses); the next K/V tile is loaded
// into registers (16-byte loads) while the current one is used. Thread (rg,
// tc) of a block (16 lanes per row group) owns rows 4rg .. 4rg+3: the scores
// of keys tc + 16j, and the output columns 4(tc + 16n) .. +3. The row maxima
// meet through shuffles among the 16 lanes, the row sums are reduced once at
// the end.
//
// GQA: query head h reads KV head h / (heads / kv_heads). Rows at or past
// n_valid (prefill padding) produce zeros. causal = false lets every row
// see keys 0 .. pos + rows - 1.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace monocard::gpu_kernels;

namespace {

constexpr double kLog2e = 1.4426950408889634;
/// The running maximum starts finite, so that 2^(m - m') is never
/// 2^(-inf + inf) for a thread that has seen only masked keys.
constexpr double kNoMax = -1e30;
/// The largest head dimension the kernels take (the prefill kernel keeps
/// 4 rows x dim / 16 accumulators per thread).
constexpr int64_t kMaxHeadDim = 256;
/// Dynamic shared memory a prefill block may use: within what an A100
/// (163 KiB) and an H100 (227 KiB) give a block.
constexpr int64_t kMaxSharedBytes = 160 * 1024;

std::string kernelName(StringRef kind, const AttentionSpec &s) {
  std::string scaleName = llvm::formatv("{0:e}", s.scale);
  for (char &c : scaleName)
    if (c == '.' || c == '+' || c == '-')
      c = c == '.' ? 'd' : (c == '+' ? 'p' : 'm');
  return llvm::formatv("attention_{0}_r{1}_h{2}_kv{3}_d{4}_s{5}_sc{6}{7}{8}_"
                       "{9}_{10}_{11}",
                       kind, s.rows, s.heads, s.kvHeads, s.dim, s.capacity,
                       scaleName, s.causal ? "" : "_nc",
                       s.hasValidRows ? "_nvalid" : "", typeName(s.qT),
                       typeName(s.kvT), typeName(s.outT));
}

} // namespace

KernelLaunch KernelLibrary::attention(const AttentionSpec &spec,
                                      std::string &why) {
  if (spec.dim > kMaxHeadDim) {
    why = llvm::formatv("head dimension {0} is not supported by the CUDA "
                        "attention kernels (at most {1})",
                        spec.dim, kMaxHeadDim);
    return {};
  }
  if (spec.rows == 1)
    return attentionDecode(spec);
  return attentionPrefill(spec, why);
}

//===----------------------------------------------------------------------===//
// Decode: one row, the keys split over lane groups
//===----------------------------------------------------------------------===//

KernelLaunch KernelLibrary::attentionDecode(const AttentionSpec &s) {
  const int64_t dim = s.dim, cap = s.capacity;
  const int64_t vw = vectorWidth(s.kvT, dim), chunks = dim / vw;
  // L lanes per key, each with `perLane` chunks of the row; G keys per warp.
  const int64_t lanes =
      std::min<int64_t>(32, llvm::PowerOf2Ceil(uint64_t(chunks)));
  const int64_t perLane = llvm::divideCeil(chunks, lanes);
  const int64_t groupsPerWarp = 32 / lanes;
  // Warps per block: KernelConfig::attention.
  const AttentionConfig shape = config.attention(s);
  const int64_t warps = shape.decodeWarps;
  const int64_t block = warps * 32, groups = warps * groupsPerWarp;
  // Keys per group and step: 2 * unroll * perLane loads in flight per lane.
  const int64_t unroll = std::max<int64_t>(1, 4 / perLane);
  const int64_t perKv = s.heads / s.kvHeads;
  const double qScale = s.scale * kLog2e;

  Type cacheType = flat(s.kvHeads * cap * dim, s.kvT);
  auto fn = getOrBuild(
      kernelName("decode", s),
      {flat(s.heads * dim, s.qT), cacheType, cacheType,
       flat(s.heads * dim, s.outT), scalarsType()},
      {warps, warps, warps * dim}, block,
      [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
        auto &b = e.builder();
        Value q = a[0], kc = a[1], vc = a[2], out = a[3], scalars = a[4];
        Value maxes = wg[0], sums = wg[1], parts = wg[2];
        Value tid = e.threadId();
        Value lane = e.rem(tid, e.idx(32)), warp = e.div(tid, e.idx(32));
        Value c = e.rem(lane, e.idx(lanes));
        Value g = e.add(e.mul(warp, e.idx(groupsPerWarp)),
                        e.div(lane, e.idx(lanes)));
        Value h = e.blockId(gpu::Dimension::x);
        Value kvh = e.div(h, e.idx(perKv));
        Value pos = e.i32ToIndex(
            memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
        // One row: causal or not, it sees keys 0 .. pos.
        Value len = e.min(e.add(pos, e.idx(1)), e.idx(cap));
        Value last = e.sub(len, e.idx(1));
        Value qBase = e.mul(h, e.idx(dim));
        Value cacheBase = e.mul(kvh, e.idx(cap * dim));

        auto body = [&] {
          // This lane's chunks: c, c + L, ...; past the row: clamped
          // addresses, zero query (contributes nothing to the dot).
          SmallVector<Value> chunkOf, chunkOk, qv;
          for (int64_t n = 0; n < perLane; ++n) {
            Value ch = e.add(c, e.idx(n * lanes));
            Value ok = e.lt(ch, e.idx(chunks));
            Value chc = chunks % lanes == 0 ? ch
                                            : e.min(ch, e.idx(chunks - 1));
            chunkOf.push_back(chc);
            chunkOk.push_back(ok);
            Value v = e.loadVector(q, e.add(qBase, e.mul(chc, e.idx(vw))), vw);
            v = arith::MulFOp::create(b, v, e.splat(e.f32(qScale), vw));
            if (chunks % lanes)
              v = e.select(ok, v, e.zeroVector(vw));
            qv.push_back(v);
          }
          Value negInf = e.f32(-std::numeric_limits<float>::infinity());
          SmallVector<Value> init{e.f32(kNoMax), e.f32(0)};
          for (int64_t n = 0; n < perLane; ++n)
            init.push_back(e.zeroVector(vw));
          SmallVector<Value> st = e.forRange(
              e.idx(0), len, e.idx(groups * unroll), init,
              [&](Value j0, ValueRange it) -> SmallVector<Value> {
                // All the step's K and V rows first: 2 * unroll * perLane
                // 16-byte loads in flight per lane.
                SmallVector<Value> keys;
                SmallVector<SmallVector<Value>> ks(unroll), vs(unroll);
                for (int64_t u = 0; u < unroll; ++u) {
                  Value j = e.add(j0, e.add(g, e.idx(u * groups)));
                  keys.push_back(j);
                  Value row = e.add(cacheBase,
                                    e.mul(e.min(j, last), e.idx(dim)));
                  for (int64_t n = 0; n < perLane; ++n) {
                    Value at = e.add(row, e.mul(chunkOf[n], e.idx(vw)));
                    ks[u].push_back(e.loadVectorRaw(kc, at, vw));
                    vs[u].push_back(e.loadVectorRaw(vc, at, vw));
                  }
                }
                SmallVector<Value> sc;
                Value mx = it[0];
                for (int64_t u = 0; u < unroll; ++u) {
                  Value dot = e.f32(0);
                  for (int64_t n = 0; n < perLane; ++n) {
                    Value kv = e.extToF32(ks[u][n]);
                    for (int64_t l = 0; l < vw; ++l)
                      dot = e.fma(e.extract(qv[n], l), e.extract(kv, l), dot);
                  }
                  dot = e.groupSum(dot, lanes);
                  dot = e.select(e.lt(keys[u], len), dot, negInf);
                  sc.push_back(dot);
                  mx = e.fmax(mx, dot);
                }
                Value alpha = e.exp2(e.fsub(it[0], mx));
                Value sum = e.fmul(it[1], alpha);
                SmallVector<Value> ps;
                for (int64_t u = 0; u < unroll; ++u) {
                  ps.push_back(e.exp2(e.fsub(sc[u], mx)));
                  sum = e.fadd(sum, ps.back());
                }
                SmallVector<Value> next{mx, sum};
                for (int64_t n = 0; n < perLane; ++n) {
                  Value acc = arith::MulFOp::create(b, it[2 + n],
                                                    e.splat(alpha, vw));
                  for (int64_t u = 0; u < unroll; ++u)
                    acc = e.vfma(e.splat(ps[u], vw), e.extToF32(vs[u][n]),
                                 acc);
                  next.push_back(acc);
                }
                return next;
              });
          // The groups of a warp merge through shuffles (lanes c of every
          // group: xor offsets L .. 16), rescaled to the warp's maximum.
          auto across = [&](Value v, bool isMax) {
            for (int64_t off = lanes; off < 32; off *= 2) {
              Value o = gpu::ShuffleOp::create(b, v, e.i32(off), e.i32(32),
                                               gpu::ShuffleMode::XOR)
                            .getShuffleResult();
              v = isMax ? e.fmax(v, o) : e.fadd(v, o);
            }
            return v;
          };
          Value wm = across(st[0], true);
          Value w = e.exp2(e.fsub(st[0], wm));
          Value wl = across(e.fmul(st[1], w), false);
          SmallVector<Value> wacc;
          for (int64_t n = 0; n < perLane; ++n)
            for (int64_t l = 0; l < vw; ++l)
              wacc.push_back(across(e.fmul(e.extract(st[2 + n], l), w), false));
          // The warps' states meet in shared memory.
          e.ifThen(e.lt(lane, e.idx(lanes)), [&] {
            e.ifThen(e.eq(c, e.idx(0)), [&] {
              memref::StoreOp::create(b, wm, maxes, ValueRange{warp});
              memref::StoreOp::create(b, wl, sums, ValueRange{warp});
            });
            for (int64_t n = 0; n < perLane; ++n) {
              auto write = [&] {
                Value base = e.add(e.mul(warp, e.idx(dim)),
                                   e.mul(chunkOf[n], e.idx(vw)));
                for (int64_t l = 0; l < vw; ++l)
                  memref::StoreOp::create(b, wacc[n * vw + l], parts,
                                          ValueRange{e.add(base, e.idx(l))});
              };
              if (chunks % lanes)
                e.ifThen(chunkOk[n], write);
              else
                write();
            }
          });
          e.barrier();
          SmallVector<Value> ms, ws;
          Value m = e.f32(kNoMax);
          for (int64_t i = 0; i < warps; ++i) {
            ms.push_back(memref::LoadOp::create(b, maxes, ValueRange{e.idx(i)}));
            m = e.fmax(m, ms.back());
          }
          Value den = e.f32(0);
          for (int64_t i = 0; i < warps; ++i) {
            ws.push_back(e.exp2(e.fsub(ms[i], m)));
            den = e.fma(ws[i],
                        memref::LoadOp::create(b, sums, ValueRange{e.idx(i)}),
                        den);
          }
          Value inv = e.fdiv(e.f32(1), den);
          e.forRange(tid, e.idx(dim), e.idx(block), [&](Value d) {
            Value num = e.f32(0);
            for (int64_t i = 0; i < warps; ++i)
              num = e.fma(ws[i],
                          memref::LoadOp::create(
                              b, parts, ValueRange{e.add(e.idx(i * dim), d)}),
                          num);
            e.store(out, e.add(qBase, d), e.fmul(num, inv));
          });
        };
        if (!s.hasValidRows) {
          body();
          return;
        }
        Value nValid = e.i32ToIndex(
            memref::LoadOp::create(b, scalars, ValueRange{e.idx(kNValid)}));
        // Uniform over the block: the barrier stays uniform.
        e.ifThenElse(e.lt(e.idx(0), nValid), body, [&] {
          e.forRange(tid, e.idx(dim), e.idx(block), [&](Value d) {
            e.store(out, e.add(qBase, d), e.f32(0));
          });
        });
      });
  fn->setAttr(KernelConfig::kAttrName,
              config.attr(module.getContext(), shape, /*decode=*/true));
  return {fn, {s.heads, 1, 1}, {block, 1, 1}};
}

//===----------------------------------------------------------------------===//
// Prefill: flash-style tiles
//===----------------------------------------------------------------------===//

KernelLaunch KernelLibrary::attentionPrefill(const AttentionSpec &s,
                                             std::string &why) {
  constexpr int64_t rowsPerThread = 4, lanesPerRow = 16;
  const int64_t dim = s.dim, cap = s.capacity, T = s.rows;
  // Shared rows: the head dim rounded up to whole float4s (zero padding),
  // and a stride of 4 mod 8 floats so that 8 lanes' 16-byte accesses to 8
  // different rows hit 32 different banks.
  const int64_t dimP = llvm::alignTo(dim, 4);
  const int64_t stride = dimP + (dimP % 8 ? 8 : 4);
  const int64_t vw = vectorWidth(s.kvT, dim), chunks = dim / vw;
  // Row tile (KernelConfig::attention), key tile (16 lanes x
  // keysPerThread), threads.
  const AttentionConfig shape = config.attention(s);
  int64_t tileRows = shape.prefillTileRows;
  int64_t keysPerThread = 4, threads = 0,
          tileKeys = 0, perThreadLoads = 0, pStride = 0, sharedBytes = 0;
  for (;; keysPerThread /= 2) {
    threads = tileRows / rowsPerThread * lanesPerRow;
    tileKeys = lanesPerRow * keysPerThread;
    perThreadLoads = llvm::divideCeil(tileKeys * chunks, threads);
    pStride = tileKeys + 4;
    sharedBytes =
        4 * (tileRows * stride + 2 * tileKeys * stride + tileRows * pStride);
    if (keysPerThread == 1 ||
        (perThreadLoads <= 8 && sharedBytes <= kMaxSharedBytes))
      break;
  }
  if (sharedBytes > kMaxSharedBytes) {
    why = llvm::formatv("head dimension {0} needs {1} bytes of shared memory "
                        "in the CUDA attention kernel (at most {2})",
                        dim, sharedBytes, kMaxSharedBytes);
    return {};
  }
  const int64_t rowTiles = llvm::divideCeil(T, tileRows);
  const int64_t colChunks = dimP / 4;
  const int64_t colsPerThread = llvm::divideCeil(colChunks, lanesPerRow);
  const int64_t perKv = s.heads / s.kvHeads;
  const int64_t heads = s.heads;
  const double qScale = s.scale * kLog2e;
  const int64_t qOff = 0, kOff = tileRows * stride * 4,
                vOff = kOff + tileKeys * stride * 4,
                pOff = vOff + tileKeys * stride * 4;

  Type cacheType = flat(s.kvHeads * cap * dim, s.kvT);
  auto fn = getOrBuild(
      kernelName("prefill", s),
      {flat(T * heads * dim, s.qT), cacheType, cacheType,
       flat(T * heads * dim, s.outT), scalarsType()},
      {}, threads, [&](KernelEmitter &e, ValueRange a, ValueRange) {
        auto &b = e.builder();
        MLIRContext *ctx = b.getContext();
        Value q = a[0], kc = a[1], vc = a[2], out = a[3], scalars = a[4];
        // The tiles: views of the dynamic shared memory.
        auto wgSpace = gpu::AddressSpaceAttr::get(
            ctx, gpu::GPUDialect::getWorkgroupAddressSpace());
        Value raw = gpu::DynamicSharedMemoryOp::create(
            b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                               MemRefLayoutAttrInterface{}, wgSpace));
        auto tile = [&](int64_t offset, int64_t n) -> Value {
          return memref::ViewOp::create(
              b,
              MemRefType::get({n}, b.getF32Type(),
                              MemRefLayoutAttrInterface{}, wgSpace),
              raw, e.idx(offset), ValueRange{});
        };
        Value qs = tile(qOff, tileRows * stride);
        Value ks = tile(kOff, tileKeys * stride);
        Value vs = tile(vOff, tileKeys * stride);
        Value ps = tile(pOff, tileRows * pStride);

        Value tid = e.threadId();
        Value rg = e.div(tid, e.idx(lanesPerRow));
        Value tc = e.rem(tid, e.idx(lanesPerRow));
        Value h = e.blockId(gpu::Dimension::x);
        // The tiles nearest the end of the chunk see the most keys: first.
        Value r0 = e.mul(
            e.sub(e.idx(rowTiles - 1), e.blockId(gpu::Dimension::y)),
            e.idx(tileRows));
        Value kvh = e.div(h, e.idx(perKv));
        Value pos = e.i32ToIndex(
            memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
        Value rowsEnd = e.idx(T);
        if (s.hasValidRows)
          rowsEnd = e.min(rowsEnd, e.i32ToIndex(memref::LoadOp::create(
                                       b, scalars, ValueRange{e.idx(kNValid)})));
        Value tileEnd = e.min(e.add(r0, e.idx(tileRows)), e.idx(T));
        Value cacheBase = e.mul(kvh, e.idx(cap * dim));
        auto outIndex = [&](Value r, Value d) {
          return e.add(e.mul(e.add(e.mul(r, e.idx(heads)), h), e.idx(dim)),
                       d);
        };

        auto body = [&] {
          // Keys this tile of rows sees: up to the last valid row's limit.
          Value liveEnd = e.min(tileEnd, rowsEnd);
          Value len =
              s.causal ? e.min(e.add(pos, liveEnd), e.idx(cap))
                       : e.min(e.add(pos, e.idx(T)), e.idx(cap));
          Value last = e.sub(len, e.idx(1));
          Value numTiles = e.div(e.add(len, e.idx(tileKeys - 1)),
                                 e.idx(tileKeys));

          // Q, scaled into the log2 domain; rows past the chunk and the
          // padding columns are zero.
          e.forRange(tid, e.idx(tileRows * dimP), e.idx(threads),
                     [&](Value i) {
                       Value rr = e.div(i, e.idx(dimP));
                       Value d = e.rem(i, e.idx(dimP));
                       Value r = e.add(r0, rr);
                       Value ok = e.land(e.lt(r, e.idx(T)),
                                         e.lt(d, e.idx(dim)));
                       Value at = outIndex(e.min(r, e.idx(T - 1)),
                                           e.min(d, e.idx(dim - 1)));
                       Value v = e.fmul(e.load(q, at), e.f32(qScale));
                       memref::StoreOp::create(
                           b, e.select(ok, v, e.f32(0)), qs,
                           ValueRange{e.add(e.mul(rr, e.idx(stride)), d)});
                     });
          if (dimP != dim) {
            // The padding columns of K and V: zero once, never written.
            e.forRange(tid, e.idx(tileKeys * (dimP - dim)), e.idx(threads),
                       [&](Value i) {
                         Value k = e.div(i, e.idx(dimP - dim));
                         Value d = e.add(e.rem(i, e.idx(dimP - dim)),
                                         e.idx(dim));
                         Value at = e.add(e.mul(k, e.idx(stride)), d);
                         memref::StoreOp::create(b, e.f32(0), ks,
                                                 ValueRange{at});
                         memref::StoreOp::create(b, e.f32(0), vs,
                                                 ValueRange{at});
                       });
          }

          // A K/V tile: perThreadLoads 16-byte vectors of each per thread,
          // consecutive threads on consecutive chunks of a row. Keys past
          // the end read the last valid row (their scores are masked).
          auto slot = [&](int64_t n) {
            Value v = e.add(tid, e.idx(n * threads));
            Value vc = tileKeys * chunks % threads
                           ? e.min(v, e.idx(tileKeys * chunks - 1))
                           : v;
            return std::make_pair(e.div(vc, e.idx(chunks)),
                                  e.rem(vc, e.idx(chunks)));
          };
          auto loadTile = [&](Value k0) {
            SmallVector<Value> regs;
            for (int64_t n = 0; n < perThreadLoads; ++n) {
              auto [row, ch] = slot(n);
              Value key = e.min(e.add(k0, row), last);
              Value at = e.add(cacheBase, e.add(e.mul(key, e.idx(dim)),
                                                e.mul(ch, e.idx(vw))));
              regs.push_back(e.loadVectorRaw(kc, at, vw));
              regs.push_back(e.loadVectorRaw(vc, at, vw));
            }
            return regs;
          };
          auto storeTile = [&](ValueRange regs) {
            for (int64_t n = 0; n < perThreadLoads; ++n) {
              auto [row, ch] = slot(n);
              Value at = e.add(e.mul(row, e.idx(stride)), e.mul(ch, e.idx(vw)));
              e.storeVector(ks, at, e.extToF32(regs[2 * n]));
              e.storeVector(vs, at, e.extToF32(regs[2 * n + 1]));
            }
          };

          // Per row of this thread: where its keys end.
          SmallVector<Value> rowLen;
          for (int64_t i = 0; i < rowsPerThread; ++i) {
            Value r = e.add(r0, e.add(e.mul(rg, e.idx(rowsPerThread)),
                                      e.idx(i)));
            rowLen.push_back(s.causal
                                 ? e.min(e.add(e.add(pos, r), e.idx(1)), len)
                                 : len);
          }

          // Loop state: the prefetched tile, then per row (max, partial
          // sum), then per row and column chunk the accumulator.
          SmallVector<Value> init = loadTile(e.idx(0));
          const int64_t nRegs = init.size();
          for (int64_t i = 0; i < rowsPerThread; ++i) {
            init.push_back(e.f32(kNoMax));
            init.push_back(e.f32(0));
          }
          for (int64_t i = 0; i < rowsPerThread * colsPerThread; ++i)
            init.push_back(e.zeroVector(4));
          Value negInf = e.f32(-std::numeric_limits<float>::infinity());
          auto qRow = [&](int64_t i) {
            return e.mul(e.add(e.mul(rg, e.idx(rowsPerThread)), e.idx(i)),
                         e.idx(stride));
          };
          auto pRow = [&](int64_t i) {
            return e.mul(e.add(e.mul(rg, e.idx(rowsPerThread)), e.idx(i)),
                         e.idx(pStride));
          };
          SmallVector<Value> st = e.forRange(
              e.idx(0), numTiles, e.idx(1), init,
              [&](Value t, ValueRange it) -> SmallVector<Value> {
                Value k0 = e.mul(t, e.idx(tileKeys));
                e.barrier(); // the previous tile is no longer read
                storeTile(it.take_front(nRegs));
                e.barrier();
                // Prefetch the next tile (past the last: a clamped re-read).
                SmallVector<Value> next =
                    loadTile(e.add(k0, e.idx(tileKeys)));

                // Scores: rows 4rg+i, keys tc+16j, over float4s of dim.
                SmallVector<Value> sInit(rowsPerThread * keysPerThread,
                                         e.f32(0));
                SmallVector<Value> sc = e.forRange(
                    e.idx(0), e.idx(dimP), e.idx(4), sInit,
                    [&](Value d, ValueRange acc) -> SmallVector<Value> {
                      SmallVector<Value> qv, kv;
                      for (int64_t i = 0; i < rowsPerThread; ++i)
                        qv.push_back(e.loadVector(qs, e.add(qRow(i), d), 4));
                      for (int64_t j = 0; j < keysPerThread; ++j) {
                        Value k = e.add(tc, e.idx(lanesPerRow * j));
                        kv.push_back(e.loadVector(
                            ks, e.add(e.mul(k, e.idx(stride)), d), 4));
                      }
                      SmallVector<Value> r(acc.begin(), acc.end());
                      for (int64_t l = 0; l < 4; ++l)
                        for (int64_t i = 0; i < rowsPerThread; ++i) {
                          Value qi = e.extract(qv[i], l);
                          for (int64_t j = 0; j < keysPerThread; ++j) {
                            Value &x = r[i * keysPerThread + j];
                            x = e.fma(qi, e.extract(kv[j], l), x);
                          }
                        }
                      return r;
                    });

                // Online softmax per row; probabilities to shared memory.
                SmallVector<Value> state;
                SmallVector<Value> alphas;
                for (int64_t i = 0; i < rowsPerThread; ++i) {
                  Value m = it[nRegs + 2 * i], l = it[nRegs + 2 * i + 1];
                  Value mx = m;
                  SmallVector<Value> sv;
                  for (int64_t j = 0; j < keysPerThread; ++j) {
                    Value key = e.add(k0, e.add(tc, e.idx(lanesPerRow * j)));
                    Value x = e.select(e.lt(key, rowLen[i]),
                                       sc[i * keysPerThread + j], negInf);
                    sv.push_back(x);
                    mx = e.fmax(mx, x);
                  }
                  mx = e.groupMax(mx, lanesPerRow);
                  Value alpha = e.exp2(e.fsub(m, mx));
                  Value sum = e.fmul(l, alpha);
                  for (int64_t j = 0; j < keysPerThread; ++j) {
                    Value p = e.exp2(e.fsub(sv[j], mx));
                    sum = e.fadd(sum, p);
                    memref::StoreOp::create(
                        b, p, ps,
                        ValueRange{e.add(pRow(i),
                                         e.add(tc, e.idx(lanesPerRow * j)))});
                  }
                  state.push_back(mx);
                  state.push_back(sum);
                  alphas.push_back(alpha);
                }
                // A row group's probabilities are written and read by the
                // same 16 lanes of one warp, but keep it simple.
                e.barrier();

                // out[rows, cols] = alpha * out + P V.
                SmallVector<Value> accInit;
                for (int64_t i = 0; i < rowsPerThread; ++i)
                  for (int64_t n = 0; n < colsPerThread; ++n)
                    accInit.push_back(arith::MulFOp::create(
                        b, it[nRegs + 2 * rowsPerThread + i * colsPerThread + n],
                        e.splat(alphas[i], 4)));
                SmallVector<Value> colAt;
                for (int64_t n = 0; n < colsPerThread; ++n) {
                  Value cch = e.add(tc, e.idx(lanesPerRow * n));
                  if (colChunks % lanesPerRow)
                    cch = e.min(cch, e.idx(colChunks - 1));
                  colAt.push_back(e.mul(cch, e.idx(4)));
                }
                SmallVector<Value> acc = e.forRange(
                    e.idx(0), e.idx(tileKeys), e.idx(4), accInit,
                    [&](Value k, ValueRange ac) -> SmallVector<Value> {
                      SmallVector<Value> pv;
                      for (int64_t i = 0; i < rowsPerThread; ++i)
                        pv.push_back(e.loadVector(ps, e.add(pRow(i), k), 4));
                      SmallVector<Value> r(ac.begin(), ac.end());
                      for (int64_t l = 0; l < 4; ++l) {
                        Value vrow = e.mul(e.add(k, e.idx(l)), e.idx(stride));
                        for (int64_t n = 0; n < colsPerThread; ++n) {
                          Value v = e.loadVector(vs, e.add(vrow, colAt[n]), 4);
                          for (int64_t i = 0; i < rowsPerThread; ++i) {
                            Value &x = r[i * colsPerThread + n];
                            x = e.vfma(e.splat(e.extract(pv[i], l), 4), v, x);
                          }
                        }
                      }
                      return r;
                    });
                SmallVector<Value> result(next);
                result.append(state);
                result.append(acc);
                return result;
              });

          // Normalise and store; padding rows get zeros.
          for (int64_t i = 0; i < rowsPerThread; ++i) {
            Value r = e.add(r0, e.add(e.mul(rg, e.idx(rowsPerThread)),
                                      e.idx(i)));
            Value total = e.groupSum(st[nRegs + 2 * i + 1], lanesPerRow);
            Value inv = e.fdiv(e.f32(1), total);
            Value live = e.lt(r, rowsEnd);
            e.ifThen(e.lt(r, e.idx(T)), [&] {
              for (int64_t n = 0; n < colsPerThread; ++n) {
                Value cch = e.add(tc, e.idx(lanesPerRow * n));
                auto write = [&] {
                  Value acc = st[nRegs + 2 * rowsPerThread +
                                 i * colsPerThread + n];
                  for (int64_t l = 0; l < 4; ++l) {
                    auto one = [&] {
                      Value d = e.add(e.mul(cch, e.idx(4)), e.idx(l));
                      Value v = e.select(
                          live, e.fmul(e.extract(acc, l), inv), e.f32(0));
                      e.store(out, outIndex(r, d), v);
                    };
                    if (dimP != dim && (dimP - 4 + l) >= dim)
                      e.ifThen(e.lt(e.add(e.mul(cch, e.idx(4)), e.idx(l)),
                                    e.idx(dim)),
                               one);
                    else
                      one();
                  }
                };
                if (colChunks % lanesPerRow)
                  e.ifThen(e.lt(cch, e.idx(colChunks)), write);
                else
                  write();
              }
            });
          }
        };

        // A tile wholly past n_valid: zeros, without touching the cache.
        e.ifThenElse(e.lt(r0, rowsEnd), body, [&] {
          e.forRange(e.add(e.mul(r0, e.idx(dim)), tid),
                     e.mul(tileEnd, e.idx(dim)), e.idx(threads),
                     [&](Value i) {
                       Value r = e.div(i, e.idx(dim));
                       Value d = e.rem(i, e.idx(dim));
                       e.store(out, outIndex(r, d), e.f32(0));
                     });
        });
      });
  fn->setAttr(KernelConfig::kAttrName,
              config.attr(module.getContext(), shape, /*decode=*/false));
  KernelLaunch launch{fn, {heads, rowTiles, 1}, {threads, 1, 1}};
  launch.sharedBytes = sharedBytes;
  return launch;
}
