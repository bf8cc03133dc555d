//===- AttentionDecode.cpp - attention of one query row -------------------===//
//
// A block per query head. Its threads form groups of L lanes (L a power of
// two) that each own one key at a time: lane c of a group holds 16 bytes of
// the key's row (vw elements; chunks c, c + L, ... when the row is longer
// than L * 16 bytes), so a warp's loads are whole rows, back to back. Every
// group walks its own slice of the keys (key j belongs to group j mod
// groups, U keys per step, their K and V rows loaded together: 2U 16-byte
// loads in flight per lane) with its own (max, sum, accumulator); the
// partial dot products meet through shuffles inside the group. At the end
// the groups of a warp merge through shuffles and the warps in shared
// memory:
// out = sum_w 2^(m_w - M) acc_w / sum_w 2^(m_w - M) l_w.
// Long contexts get 32 warps per block (memory-level parallelism: decode
// has only one block per head), short ones 4.
//
//===----------------------------------------------------------------------===//

#include "AttentionCommon.h"
#include "monocard/Target/Cuda/Kernels/KernelConfig.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/MathExtras.h"

#include <limits>

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::attention;

namespace {

/// How a decode kernel spreads one head over its threads.
struct DecodeShape {
  int64_t dim, cap, vw, chunks;
  /// L lanes per key, each with `perLane` chunks of the row; G keys per
  /// warp.
  int64_t lanes, perLane, groupsPerWarp;
  int64_t warps, block, groups;
  /// Keys per group and step: 2 * unroll * perLane loads in flight per
  /// lane.
  int64_t unroll;
  int64_t perKv;
  double qScale;

  DecodeShape(const AttentionSpec &s, const AttentionConfig &c);
};

DecodeShape::DecodeShape(const AttentionSpec &s, const AttentionConfig &c)
    : dim(s.dim), cap(s.capacity) {
  vw = vectorWidth(s.kvT, dim);
  chunks = dim / vw;
  lanes = std::min<int64_t>(32, llvm::PowerOf2Ceil(uint64_t(chunks)));
  perLane = llvm::divideCeil(chunks, lanes);
  groupsPerWarp = 32 / lanes;
  // Warps per block: KernelConfig::attention.
  warps = c.decodeWarps;
  block = warps * 32;
  groups = warps * groupsPerWarp;
  unroll = std::max<int64_t>(1, 4 / perLane);
  perKv = s.heads / s.kvHeads;
  qScale = s.scale * kLog2e;
}

/// Builds the body of one decode kernel, stage by stage.
class DecodeBuilder {
public:
  DecodeBuilder(KernelEmitter &e, const AttentionSpec &s, const DecodeShape &p)
      : e(e), b(e.builder()), s(s), p(p) {}

  void build(ValueRange args, ValueRange workgroup);

private:
  /// Parameters, this thread's place and the keys the row sees.
  void setUp(ValueRange a, ValueRange wg);
  /// The live row: the groups' walks, merged and written.
  void body();
  /// This lane's chunks of the query row, scaled into the log2 domain.
  void loadQuery();
  /// One step of a group's walk: `unroll` keys from j0 on; `it` and the
  /// result are the group's (max, sum, accumulator chunks).
  SmallVector<Value> step(Value j0, ValueRange it);
  /// Sum (or max) of `v` over the groups of a warp.
  Value across(Value v, bool isMax);
  /// The groups of each warp merged, the warp's state to shared memory.
  void mergeGroups(ValueRange st);
  /// The warps' states merged into the output row.
  void mergeWarps();

  KernelEmitter &e;
  ImplicitLocOpBuilder &b;
  const AttentionSpec &s;
  const DecodeShape &p;

  Value q, kc, vc, out, scalars, maxes, sums, parts;
  Value tid, lane, warp, c, g, h, kvh, pos, len, last, qBase, cacheBase;
  Value negInf;
  /// Per chunk slot of this lane: its chunk (clamped), whether it is in
  /// the row, and the query's values there.
  SmallVector<Value> chunkOf, chunkOk, qv;
};

} // namespace

void DecodeBuilder::setUp(ValueRange a, ValueRange wg) {
  q = a[0], kc = a[1], vc = a[2], out = a[3], scalars = a[4];
  maxes = wg[0], sums = wg[1], parts = wg[2];
  tid = e.threadId();
  lane = e.rem(tid, e.idx(32));
  warp = e.div(tid, e.idx(32));
  c = e.rem(lane, e.idx(p.lanes));
  g = e.add(e.mul(warp, e.idx(p.groupsPerWarp)), e.div(lane, e.idx(p.lanes)));
  h = e.blockId(gpu::Dimension::x);
  kvh = e.div(h, e.idx(p.perKv));
  pos =
      e.i32ToIndex(memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
  // One row: causal or not, it sees keys 0 .. pos.
  len = e.min(e.add(pos, e.idx(1)), e.idx(p.cap));
  last = e.sub(len, e.idx(1));
  qBase = e.mul(h, e.idx(p.dim));
  cacheBase = e.mul(kvh, e.idx(p.cap * p.dim));
}

void DecodeBuilder::loadQuery() {
  // This lane's chunks: c, c + L, ...; past the row: clamped addresses,
  // zero query (contributes nothing to the dot).
  const int64_t lanes = p.lanes, chunks = p.chunks, vw = p.vw;
  for (int64_t n = 0; n < p.perLane; ++n) {
    Value ch = e.add(c, e.idx(n * lanes));
    Value ok = e.lt(ch, e.idx(chunks));
    Value chc = chunks % lanes == 0 ? ch : e.min(ch, e.idx(chunks - 1));
    chunkOf.push_back(chc);
    chunkOk.push_back(ok);
    Value v = e.loadVector(q, e.add(qBase, e.mul(chc, e.idx(vw))), vw);
    v = arith::MulFOp::create(b, v, e.splat(e.f32(p.qScale), vw));
    if (chunks % lanes)
      v = e.select(ok, v, e.zeroVector(vw));
    qv.push_back(v);
  }
}

SmallVector<Value> DecodeBuilder::step(Value j0, ValueRange it) {
  const int64_t unroll = p.unroll, perLane = p.perLane, vw = p.vw;
  // All the step's K and V rows first: 2 * unroll * perLane 16-byte loads
  // in flight per lane.
  SmallVector<Value> keys;
  SmallVector<SmallVector<Value>> ks(unroll), vs(unroll);
  for (int64_t u = 0; u < unroll; ++u) {
    Value j = e.add(j0, e.add(g, e.idx(u * p.groups)));
    keys.push_back(j);
    Value row = e.add(cacheBase, e.mul(e.min(j, last), e.idx(p.dim)));
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
    dot = e.groupSum(dot, p.lanes);
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
    Value acc = arith::MulFOp::create(b, it[2 + n], e.splat(alpha, vw));
    for (int64_t u = 0; u < unroll; ++u)
      acc = e.vfma(e.splat(ps[u], vw), e.extToF32(vs[u][n]), acc);
    next.push_back(acc);
  }
  return next;
}

Value DecodeBuilder::across(Value v, bool isMax) {
  // Lanes c of every group: xor offsets L .. 16.
  for (int64_t off = p.lanes; off < 32; off *= 2) {
    Value o = gpu::ShuffleOp::create(b, v, e.i32(off), e.i32(32),
                                     gpu::ShuffleMode::XOR)
                  .getShuffleResult();
    v = isMax ? e.fmax(v, o) : e.fadd(v, o);
  }
  return v;
}

void DecodeBuilder::mergeGroups(ValueRange st) {
  const int64_t vw = p.vw;
  // Rescaled to the warp's maximum.
  Value wm = across(st[0], true);
  Value w = e.exp2(e.fsub(st[0], wm));
  Value wl = across(e.fmul(st[1], w), false);
  SmallVector<Value> wacc;
  for (int64_t n = 0; n < p.perLane; ++n)
    for (int64_t l = 0; l < vw; ++l)
      wacc.push_back(across(e.fmul(e.extract(st[2 + n], l), w), false));
  // The warps' states meet in shared memory.
  e.ifThen(e.lt(lane, e.idx(p.lanes)), [&] {
    e.ifThen(e.eq(c, e.idx(0)), [&] {
      memref::StoreOp::create(b, wm, maxes, ValueRange{warp});
      memref::StoreOp::create(b, wl, sums, ValueRange{warp});
    });
    for (int64_t n = 0; n < p.perLane; ++n) {
      auto write = [&] {
        Value base =
            e.add(e.mul(warp, e.idx(p.dim)), e.mul(chunkOf[n], e.idx(vw)));
        for (int64_t l = 0; l < vw; ++l)
          memref::StoreOp::create(b, wacc[n * vw + l], parts,
                                  ValueRange{e.add(base, e.idx(l))});
      };
      if (p.chunks % p.lanes)
        e.ifThen(chunkOk[n], write);
      else
        write();
    }
  });
}

void DecodeBuilder::mergeWarps() {
  const int64_t warps = p.warps, dim = p.dim;
  SmallVector<Value> ms, ws;
  Value m = e.f32(kNoMax);
  for (int64_t i = 0; i < warps; ++i) {
    ms.push_back(memref::LoadOp::create(b, maxes, ValueRange{e.idx(i)}));
    m = e.fmax(m, ms.back());
  }
  Value den = e.f32(0);
  for (int64_t i = 0; i < warps; ++i) {
    ws.push_back(e.exp2(e.fsub(ms[i], m)));
    den = e.fma(ws[i], memref::LoadOp::create(b, sums, ValueRange{e.idx(i)}),
                den);
  }
  Value inv = e.fdiv(e.f32(1), den);
  e.forRange(tid, e.idx(dim), e.idx(p.block), [&](Value d) {
    Value num = e.f32(0);
    for (int64_t i = 0; i < warps; ++i)
      num = e.fma(ws[i],
                  memref::LoadOp::create(b, parts,
                                         ValueRange{e.add(e.idx(i * dim), d)}),
                  num);
    e.store(out, e.add(qBase, d), e.fmul(num, inv));
  });
}

void DecodeBuilder::body() {
  loadQuery();
  negInf = e.f32(-std::numeric_limits<float>::infinity());
  SmallVector<Value> init{e.f32(kNoMax), e.f32(0)};
  for (int64_t n = 0; n < p.perLane; ++n)
    init.push_back(e.zeroVector(p.vw));
  SmallVector<Value> st =
      e.forRange(e.idx(0), len, e.idx(p.groups * p.unroll), init,
                 [&](Value j0, ValueRange it) { return step(j0, it); });
  mergeGroups(st);
  e.barrier();
  mergeWarps();
}

void DecodeBuilder::build(ValueRange args, ValueRange workgroup) {
  setUp(args, workgroup);
  if (!s.hasValidRows) {
    body();
    return;
  }
  Value nValid = e.i32ToIndex(
      memref::LoadOp::create(b, scalars, ValueRange{e.idx(kNValid)}));
  // Uniform over the block: the barrier stays uniform.
  e.ifThenElse(
      e.lt(e.idx(0), nValid), [&] { body(); },
      [&] {
        e.forRange(tid, e.idx(p.dim), e.idx(p.block),
                   [&](Value d) { e.store(out, e.add(qBase, d), e.f32(0)); });
      });
}

KernelLaunch KernelLibrary::attentionDecode(const AttentionSpec &s) {
  const AttentionConfig shape = config.attention(s);
  const DecodeShape p(s, shape);
  Type cacheType = flat(s.kvHeads * p.cap * p.dim, s.kvT);
  auto fn = getOrBuild(kernelName("decode", s),
                       {flat(s.heads * p.dim, s.qT), cacheType, cacheType,
                        flat(s.heads * p.dim, s.outT), scalarsType()},
                       {p.warps, p.warps, p.warps * p.dim}, p.block,
                       [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
                         DecodeBuilder(e, s, p).build(a, wg);
                       });
  fn->setAttr(KernelConfig::kAttrName,
              config.attr(module.getContext(), shape, /*decode=*/true));
  return {fn, {s.heads, 1, 1}, {p.block, 1, 1}};
}
