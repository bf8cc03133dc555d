//===- AttentionPrefill.cpp - flash-style attention of a chunk of rows ----===//
//
// A block takes BQ (32 or 64) query rows of one head (row tiles launched
// heaviest first; 32 when the chunk would otherwise give fewer blocks than
// a GPU has SMs) and walks the keys in tiles of BK up to the causal limit
// of its last valid row. SIMT f32 FMAs, no tensor cores. Q (pre-scaled),
// the K and V tiles and the tile's probabilities are staged in dynamic
// shared memory as f32 (rows padded to 4 mod 8 floats: conflict-free
// 16-byte accesses); the next K/V tile is loaded into registers (16-byte
// loads) while the current one is used. Thread (rg, tc) of a block (16
// lanes per row group) owns rows 4rg .. 4rg+3: the scores of keys tc + 16j,
// and the output columns 4(tc + 16n) .. +3. The row maxima meet through
// shuffles among the 16 lanes, the row sums are reduced once at the end.
//
//===----------------------------------------------------------------------===//

#include "AttentionCommon.h"
#include "monocard/Target/Cuda/Kernels/KernelConfig.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::attention;

namespace {

/// The tiles of a prefill kernel, its threads, and the layout of its
/// dynamic shared memory.
struct PrefillShape {
  static constexpr int64_t rowsPerThread = 4, lanesPerRow = 16;
  int64_t dim, cap, T;
  /// Shared rows: the head dim rounded up to whole float4s (zero padding),
  /// and a stride of 4 mod 8 floats so that 8 lanes' 16-byte accesses to 8
  /// different rows hit 32 different banks.
  int64_t dimP, stride;
  int64_t vw, chunks;
  /// Row tile, key tile (16 lanes x keysPerThread), threads.
  int64_t tileRows, keysPerThread = 4, threads = 0, tileKeys = 0;
  /// 16-byte K and V loads per thread and key tile.
  int64_t perThreadLoads = 0;
  /// Row stride of the probabilities; the bytes of all four tiles.
  int64_t pStride = 0, sharedBytes = 0, maxSharedBytes;
  int64_t rowTiles, colChunks, colsPerThread, perKv, heads;
  double qScale;
  /// Byte offsets of the Q, K, V and probability tiles.
  int64_t qOff, kOff, vOff, pOff;

  PrefillShape(const AttentionSpec &s, const AttentionConfig &c);
};

PrefillShape::PrefillShape(const AttentionSpec &s, const AttentionConfig &c)
    : dim(s.dim), cap(s.capacity), T(s.rows),
      maxSharedBytes(c.prefillMaxSharedBytes) {
  dimP = llvm::alignTo(dim, 4);
  stride = dimP + (dimP % 8 ? 8 : 4);
  vw = vectorWidth(s.kvT, dim);
  chunks = dim / vw;
  // Row tile: KernelConfig::attention.
  tileRows = c.prefillTileRows;
  for (;; keysPerThread /= 2) {
    threads = tileRows / rowsPerThread * lanesPerRow;
    tileKeys = lanesPerRow * keysPerThread;
    perThreadLoads = llvm::divideCeil(tileKeys * chunks, threads);
    pStride = tileKeys + 4;
    sharedBytes =
        4 * (tileRows * stride + 2 * tileKeys * stride + tileRows * pStride);
    if (keysPerThread == 1 ||
        (perThreadLoads <= 8 && sharedBytes <= maxSharedBytes))
      break;
  }
  rowTiles = llvm::divideCeil(T, tileRows);
  colChunks = dimP / 4;
  colsPerThread = llvm::divideCeil(colChunks, lanesPerRow);
  perKv = s.heads / s.kvHeads;
  heads = s.heads;
  qScale = s.scale * kLog2e;
  qOff = 0;
  kOff = tileRows * stride * 4;
  vOff = kOff + tileKeys * stride * 4;
  pOff = vOff + tileKeys * stride * 4;
}

/// Builds the body of one prefill kernel, stage by stage.
class PrefillBuilder {
public:
  PrefillBuilder(KernelEmitter &e, const AttentionSpec &s,
                 const PrefillShape &p)
      : e(e), b(e.builder()), s(s), p(p) {}

  void build(ValueRange args);

private:
  static constexpr int64_t rowsPerThread = PrefillShape::rowsPerThread;
  static constexpr int64_t lanesPerRow = PrefillShape::lanesPerRow;

  /// Parameters, the shared tiles, this thread's place and the rows of its
  /// block.
  void setUp(ValueRange a);
  /// A view of `n` floats of the dynamic shared memory at byte `offset`.
  Value tile(int64_t offset, int64_t n);
  /// A tile with live rows: the walk over the key tiles, then the output.
  void body();
  /// The keys the tile's rows see (len), the last and the number of tiles.
  void keyRange();
  /// Q, scaled into the log2 domain, to shared memory.
  void stageQuery();
  /// The padding columns of the K and V tiles: zero once, never written.
  void zeroPadding();
  /// Per row of this thread: where its keys end.
  void rowLimits();
  /// The tile's chunk slot `n` of this thread: (key row, chunk).
  std::pair<Value, Value> slot(int64_t n);
  /// The K/V tile of keys k0.. into registers.
  SmallVector<Value> loadTile(Value k0);
  /// Registers of loadTile to the shared K and V tiles.
  void storeTile(ValueRange regs);
  /// One key tile of the walk: `it` and the result are the prefetched
  /// registers, each row's (max, sum) and its accumulators.
  SmallVector<Value> keyTile(Value t, ValueRange it);
  /// Scores of this thread's rows and keys in the staged tile.
  SmallVector<Value> scores();
  /// Online softmax per row; probabilities to shared memory. Appends each
  /// row's new (max, sum) to `state` and its rescale factor to `alphas`.
  void softmax(Value k0, ValueRange it, ValueRange sc,
               SmallVectorImpl<Value> &state, SmallVectorImpl<Value> &alphas);
  /// out[rows, cols] = alpha * out + P V.
  SmallVector<Value> accumulate(ValueRange it, ValueRange alphas);
  /// Normalise and store; padding rows get zeros.
  void writeOutput(ValueRange st);
  /// A tile wholly past n_valid: zeros, without touching the cache.
  void writeZeros();

  Value outIndex(Value r, Value d);
  Value qRow(int64_t i);
  Value pRow(int64_t i);

  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  const AttentionSpec &s;
  const PrefillShape &p;

  Value q, kc, vc, out, scalars;
  Value raw, qs, ks, vs, ps;
  Value tid, rg, tc, h, r0, kvh, pos, rowsEnd, tileEnd, cacheBase;
  Value len, last, numTiles, negInf;
  SmallVector<Value> rowLen;
  /// Values of a prefetched K/V tile at the front of the loop state.
  int64_t nRegs = 0;
};

} // namespace

Value PrefillBuilder::tile(int64_t offset, int64_t n) {
  auto wgSpace = gpu::AddressSpaceAttr::get(
      b.getContext(), gpu::GPUDialect::getWorkgroupAddressSpace());
  return memref::ViewOp::create(b,
                                MemRefType::get({n}, b.getF32Type(),
                                                MemRefLayoutAttrInterface{},
                                                wgSpace),
                                raw, e.idx(offset), ValueRange{});
}

Value PrefillBuilder::outIndex(Value r, Value d) {
  return e.add(e.mul(e.add(e.mul(r, e.idx(p.heads)), h), e.idx(p.dim)), d);
}

Value PrefillBuilder::qRow(int64_t i) {
  return e.mul(e.add(e.mul(rg, e.idx(rowsPerThread)), e.idx(i)),
               e.idx(p.stride));
}

Value PrefillBuilder::pRow(int64_t i) {
  return e.mul(e.add(e.mul(rg, e.idx(rowsPerThread)), e.idx(i)),
               e.idx(p.pStride));
}

void PrefillBuilder::setUp(ValueRange a) {
  const int64_t T = p.T;
  q = a[0], kc = a[1], vc = a[2], out = a[3], scalars = a[4];
  // The tiles: views of the dynamic shared memory.
  auto wgSpace = gpu::AddressSpaceAttr::get(
      b.getContext(), gpu::GPUDialect::getWorkgroupAddressSpace());
  raw = gpu::DynamicSharedMemoryOp::create(
      b, MemRefType::get({ShapedType::kDynamic}, b.getI8Type(),
                         MemRefLayoutAttrInterface{}, wgSpace));
  qs = tile(p.qOff, p.tileRows * p.stride);
  ks = tile(p.kOff, p.tileKeys * p.stride);
  vs = tile(p.vOff, p.tileKeys * p.stride);
  ps = tile(p.pOff, p.tileRows * p.pStride);

  tid = e.threadId();
  rg = e.div(tid, e.idx(lanesPerRow));
  tc = e.rem(tid, e.idx(lanesPerRow));
  h = e.blockId(gpu::Dimension::x);
  // The tiles nearest the end of the chunk see the most keys: first.
  r0 = e.mul(e.sub(e.idx(p.rowTiles - 1), e.blockId(gpu::Dimension::y)),
             e.idx(p.tileRows));
  kvh = e.div(h, e.idx(p.perKv));
  pos =
      e.i32ToIndex(memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
  rowsEnd = e.idx(T);
  if (s.hasValidRows)
    rowsEnd = e.min(rowsEnd, e.i32ToIndex(memref::LoadOp::create(
                                 b, scalars, ValueRange{e.idx(kNValid)})));
  tileEnd = e.min(e.add(r0, e.idx(p.tileRows)), e.idx(T));
  cacheBase = e.mul(kvh, e.idx(p.cap * p.dim));
}

void PrefillBuilder::keyRange() {
  // Keys this tile of rows sees: up to the last valid row's limit.
  Value liveEnd = e.min(tileEnd, rowsEnd);
  len = s.causal ? e.min(e.add(pos, liveEnd), e.idx(p.cap))
                 : e.min(e.add(pos, e.idx(p.T)), e.idx(p.cap));
  last = e.sub(len, e.idx(1));
  numTiles = e.div(e.add(len, e.idx(p.tileKeys - 1)), e.idx(p.tileKeys));
}

void PrefillBuilder::stageQuery() {
  // Rows past the chunk and the padding columns are zero.
  const int64_t T = p.T, dim = p.dim, dimP = p.dimP;
  e.forRange(tid, e.idx(p.tileRows * dimP), e.idx(p.threads), [&](Value i) {
    Value rr = e.div(i, e.idx(dimP));
    Value d = e.rem(i, e.idx(dimP));
    Value r = e.add(r0, rr);
    Value ok = e.land(e.lt(r, e.idx(T)), e.lt(d, e.idx(dim)));
    Value at = outIndex(e.min(r, e.idx(T - 1)), e.min(d, e.idx(dim - 1)));
    Value v = e.fmul(e.load(q, at), e.f32(p.qScale));
    memref::StoreOp::create(b, e.select(ok, v, e.f32(0)), qs,
                            ValueRange{e.add(e.mul(rr, e.idx(p.stride)), d)});
  });
}

void PrefillBuilder::zeroPadding() {
  const int64_t pad = p.dimP - p.dim;
  e.forRange(tid, e.idx(p.tileKeys * pad), e.idx(p.threads), [&](Value i) {
    Value k = e.div(i, e.idx(pad));
    Value d = e.add(e.rem(i, e.idx(pad)), e.idx(p.dim));
    Value at = e.add(e.mul(k, e.idx(p.stride)), d);
    memref::StoreOp::create(b, e.f32(0), ks, ValueRange{at});
    memref::StoreOp::create(b, e.f32(0), vs, ValueRange{at});
  });
}

void PrefillBuilder::rowLimits() {
  for (int64_t i = 0; i < rowsPerThread; ++i) {
    Value r = e.add(r0, e.add(e.mul(rg, e.idx(rowsPerThread)), e.idx(i)));
    rowLen.push_back(s.causal ? e.min(e.add(e.add(pos, r), e.idx(1)), len)
                              : len);
  }
}

// A K/V tile: perThreadLoads 16-byte vectors of each per thread, consecutive
// threads on consecutive chunks of a row. Keys past the end read the last
// valid row (their scores are masked).
std::pair<Value, Value> PrefillBuilder::slot(int64_t n) {
  const int64_t slots = p.tileKeys * p.chunks;
  Value v = e.add(tid, e.idx(n * p.threads));
  Value vc = slots % p.threads ? e.min(v, e.idx(slots - 1)) : v;
  return std::make_pair(e.div(vc, e.idx(p.chunks)), e.rem(vc, e.idx(p.chunks)));
}

SmallVector<Value> PrefillBuilder::loadTile(Value k0) {
  SmallVector<Value> regs;
  for (int64_t n = 0; n < p.perThreadLoads; ++n) {
    auto [row, ch] = slot(n);
    Value key = e.min(e.add(k0, row), last);
    Value at = e.add(cacheBase,
                     e.add(e.mul(key, e.idx(p.dim)), e.mul(ch, e.idx(p.vw))));
    regs.push_back(e.loadVectorRaw(kc, at, p.vw));
    regs.push_back(e.loadVectorRaw(vc, at, p.vw));
  }
  return regs;
}

void PrefillBuilder::storeTile(ValueRange regs) {
  for (int64_t n = 0; n < p.perThreadLoads; ++n) {
    auto [row, ch] = slot(n);
    Value at = e.add(e.mul(row, e.idx(p.stride)), e.mul(ch, e.idx(p.vw)));
    e.storeVector(ks, at, e.extToF32(regs[2 * n]));
    e.storeVector(vs, at, e.extToF32(regs[2 * n + 1]));
  }
}

SmallVector<Value> PrefillBuilder::scores() {
  // Rows 4rg+i, keys tc+16j, over float4s of dim.
  const int64_t keysPerThread = p.keysPerThread;
  SmallVector<Value> sInit(rowsPerThread * keysPerThread, e.f32(0));
  return e.forRange(e.idx(0), e.idx(p.dimP), e.idx(4), sInit,
                    [&](Value d, ValueRange acc) -> SmallVector<Value> {
                      SmallVector<Value> qv, kv;
                      for (int64_t i = 0; i < rowsPerThread; ++i)
                        qv.push_back(e.loadVector(qs, e.add(qRow(i), d), 4));
                      for (int64_t j = 0; j < keysPerThread; ++j) {
                        Value k = e.add(tc, e.idx(lanesPerRow * j));
                        kv.push_back(e.loadVector(
                            ks, e.add(e.mul(k, e.idx(p.stride)), d), 4));
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
}

void PrefillBuilder::softmax(Value k0, ValueRange it, ValueRange sc,
                             SmallVectorImpl<Value> &state,
                             SmallVectorImpl<Value> &alphas) {
  const int64_t keysPerThread = p.keysPerThread;
  for (int64_t i = 0; i < rowsPerThread; ++i) {
    Value m = it[nRegs + 2 * i], l = it[nRegs + 2 * i + 1];
    Value mx = m;
    SmallVector<Value> sv;
    for (int64_t j = 0; j < keysPerThread; ++j) {
      Value key = e.add(k0, e.add(tc, e.idx(lanesPerRow * j)));
      Value x =
          e.select(e.lt(key, rowLen[i]), sc[i * keysPerThread + j], negInf);
      sv.push_back(x);
      mx = e.fmax(mx, x);
    }
    mx = e.groupMax(mx, lanesPerRow);
    Value alpha = e.exp2(e.fsub(m, mx));
    Value sum = e.fmul(l, alpha);
    for (int64_t j = 0; j < keysPerThread; ++j) {
      Value pr = e.exp2(e.fsub(sv[j], mx));
      sum = e.fadd(sum, pr);
      memref::StoreOp::create(
          b, pr, ps,
          ValueRange{e.add(pRow(i), e.add(tc, e.idx(lanesPerRow * j)))});
    }
    state.push_back(mx);
    state.push_back(sum);
    alphas.push_back(alpha);
  }
}

SmallVector<Value> PrefillBuilder::accumulate(ValueRange it,
                                              ValueRange alphas) {
  const int64_t colsPerThread = p.colsPerThread, colChunks = p.colChunks;
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
  return e.forRange(e.idx(0), e.idx(p.tileKeys), e.idx(4), accInit,
                    [&](Value k, ValueRange ac) -> SmallVector<Value> {
                      SmallVector<Value> pv;
                      for (int64_t i = 0; i < rowsPerThread; ++i)
                        pv.push_back(e.loadVector(ps, e.add(pRow(i), k), 4));
                      SmallVector<Value> r(ac.begin(), ac.end());
                      for (int64_t l = 0; l < 4; ++l) {
                        Value vrow = e.mul(e.add(k, e.idx(l)), e.idx(p.stride));
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
}

SmallVector<Value> PrefillBuilder::keyTile(Value t, ValueRange it) {
  Value k0 = e.mul(t, e.idx(p.tileKeys));
  e.barrier(); // the previous tile is no longer read
  storeTile(it.take_front(nRegs));
  e.barrier();
  // Prefetch the next tile (past the last: a clamped re-read).
  SmallVector<Value> next = loadTile(e.add(k0, e.idx(p.tileKeys)));
  SmallVector<Value> sc = scores();
  SmallVector<Value> state, alphas;
  softmax(k0, it, sc, state, alphas);
  // A row group's probabilities are written and read by the same 16 lanes
  // of one warp, but keep it simple.
  e.barrier();
  SmallVector<Value> acc = accumulate(it, alphas);
  SmallVector<Value> result(next);
  result.append(state);
  result.append(acc);
  return result;
}

void PrefillBuilder::writeOutput(ValueRange st) {
  const int64_t colsPerThread = p.colsPerThread, colChunks = p.colChunks;
  const int64_t dim = p.dim, dimP = p.dimP;
  for (int64_t i = 0; i < rowsPerThread; ++i) {
    Value r = e.add(r0, e.add(e.mul(rg, e.idx(rowsPerThread)), e.idx(i)));
    Value total = e.groupSum(st[nRegs + 2 * i + 1], lanesPerRow);
    Value inv = e.fdiv(e.f32(1), total);
    Value live = e.lt(r, rowsEnd);
    e.ifThen(e.lt(r, e.idx(p.T)), [&] {
      for (int64_t n = 0; n < colsPerThread; ++n) {
        Value cch = e.add(tc, e.idx(lanesPerRow * n));
        auto write = [&] {
          Value acc = st[nRegs + 2 * rowsPerThread + i * colsPerThread + n];
          for (int64_t l = 0; l < 4; ++l) {
            auto one = [&] {
              Value d = e.add(e.mul(cch, e.idx(4)), e.idx(l));
              Value v =
                  e.select(live, e.fmul(e.extract(acc, l), inv), e.f32(0));
              e.store(out, outIndex(r, d), v);
            };
            if (dimP != dim && (dimP - 4 + l) >= dim)
              e.ifThen(e.lt(e.add(e.mul(cch, e.idx(4)), e.idx(l)), e.idx(dim)),
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
}

void PrefillBuilder::body() {
  keyRange();
  stageQuery();
  if (p.dimP != p.dim)
    zeroPadding();
  rowLimits();
  // Loop state: the prefetched tile, then per row (max, partial sum), then
  // per row and column chunk the accumulator.
  SmallVector<Value> init = loadTile(e.idx(0));
  nRegs = init.size();
  for (int64_t i = 0; i < rowsPerThread; ++i) {
    init.push_back(e.f32(kNoMax));
    init.push_back(e.f32(0));
  }
  for (int64_t i = 0; i < rowsPerThread * p.colsPerThread; ++i)
    init.push_back(e.zeroVector(4));
  negInf = e.f32(-std::numeric_limits<float>::infinity());
  SmallVector<Value> st =
      e.forRange(e.idx(0), numTiles, e.idx(1), init,
                 [&](Value t, ValueRange it) { return keyTile(t, it); });
  writeOutput(st);
}

void PrefillBuilder::writeZeros() {
  e.forRange(e.add(e.mul(r0, e.idx(p.dim)), tid), e.mul(tileEnd, e.idx(p.dim)),
             e.idx(p.threads), [&](Value i) {
               Value r = e.div(i, e.idx(p.dim));
               Value d = e.rem(i, e.idx(p.dim));
               e.store(out, outIndex(r, d), e.f32(0));
             });
}

void PrefillBuilder::build(ValueRange args) {
  setUp(args);
  e.ifThenElse(
      e.lt(r0, rowsEnd), [&] { body(); }, [&] { writeZeros(); });
}

KernelLaunch KernelLibrary::attentionPrefill(const AttentionSpec &s,
                                             std::string &why) {
  AttentionConfig shape = config.attention(s);
  PrefillShape p(s, shape);
  // A 64-row tile of a large head dim may not fit a GPU with less shared
  // memory (sm_86/sm_89: 99 KiB) even with one key per thread; 32 rows do.
  // The recorded config says which tile was built.
  if (p.sharedBytes > p.maxSharedBytes && shape.prefillTileRows > 32) {
    shape.prefillTileRows = 32;
    p = PrefillShape(s, shape);
  }
  if (p.sharedBytes > p.maxSharedBytes) {
    why = llvm::formatv("head dimension {0} needs {1} bytes of shared memory "
                        "in the CUDA attention kernel (at most {2})",
                        p.dim, p.sharedBytes, p.maxSharedBytes);
    return {};
  }
  Type cacheType = flat(s.kvHeads * p.cap * p.dim, s.kvT);
  auto fn = getOrBuild(kernelName("prefill", s),
                       {flat(p.T * p.heads * p.dim, s.qT), cacheType, cacheType,
                        flat(p.T * p.heads * p.dim, s.outT), scalarsType()},
                       {}, p.threads,
                       [&](KernelEmitter &e, ValueRange a, ValueRange) {
                         PrefillBuilder(e, s, p).build(a);
                       });
  fn->setAttr(KernelConfig::kAttrName,
              config.attr(module.getContext(), shape, /*decode=*/false));
  KernelLaunch launch{fn, {p.heads, p.rowTiles, 1}, {p.threads, 1, 1}};
  launch.sharedBytes = p.sharedBytes;
  return launch;
}
