//===- FusedGemv.cpp - the fused decode GEMV of a LinearSpec --------------===//
//
// Decode is bandwidth bound: every weight byte is read once per token. The
// layout of the work is described below, its instruction budget with the
// dequantization (GemvDotProduct.cpp).
//
// A warp owns a PAIR of adjacent weight rows (2i, 2i + 1): SwiGLU's gate
// and up rows and RoPE's rotate-half partners are neighbours after the
// packer's pair_rows, so the epilogue finds both in one warp, and every x
// element a lane reads serves two rows. Eight warps per block.
//
// Weights are read in 16-byte "chunks" (8 halves, 4 floats, 16 int8 or 32
// int4 codes); lane l of a warp takes chunks l, l + 32, ... of its rows, so
// a warp reads 512 contiguous bytes of a row per chunk slot, and a step of
// U slots (U = 4) has 2 x U loads per lane in flight. The loop's index
// arithmetic is 32-bit (every extent is a constant below 2^31).
//
// The grid is persistent (blocksPerSM blocks per SM of the device, sized by
// the launcher; KernelConfig.h): each warp
// loops over row pairs gw, gw + warps, ... and over their steps as ONE
// software pipeline: the loads of iteration it + 1 (the next step, or the
// next pair's first) are issued before iteration it's arithmetic, and the
// very first ones before x is staged. A finished pair's two dot products
// wait in shared memory; the epilogues (bias, SwiGLU, RoPE and the cache
// writes, residual, stores) run after the loop, a lane per pair, so none of
// their registers are live while loads are in flight.
//
// How x is staged (GemvStaging.cpp) and how quantized weights are
// dequantized (GemvDotProduct.cpp) are described with that code. The builder
// (GemvBuilder.h) is split by stage: GemvLayout.cpp, GemvLoads.cpp,
// GemvStaging.cpp, GemvDotProduct.cpp and GemvEpilogue.cpp; this file holds
// the pipelined main loop (GemvBuilder::build) and KernelLibrary::fusedGemv.
//
//===----------------------------------------------------------------------===//

#include "GemvBuilder.h"
#include "LinearSignature.h"

#include "mlir/Dialect/SCF/IR/SCF.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemv;

void GemvBuilder::bindArgs(ValueRange a) {
  unsigned next = 0;
  x = a[next++];
  w = a[next++];
  if (l.quant)
    params = a[next++];
  bias = s.biasT ? a[next++] : Value();
  normW = l.norm ? a[next++] : Value();
  residual = s.residualT ? a[next++] : Value();
  y = a[next++];
  if (s.qkv) {
    keyCache = a[next++];
    valueCache = a[next++];
    scalars = a[next++];
  }
}

// The end of a pair (in the loop): reduce, scale by 1/rms, and park the two
// dot products in shared memory.
void GemvBuilder::finishPair(Value local, ValueRange acc) {
  Value z[2];
  for (int r = 0; r < 2; ++r)
    z[r] = e.warpSum(e.fadd(e.fadd(acc[r * 4], acc[r * 4 + 1]),
                            e.fadd(acc[r * 4 + 2], acc[r * 4 + 3])));
  Value rowInv = inv;
  if (l.norm && !l.shared)
    rowInv = rsqrtMean(e.warpSum(acc.back()));
  if (l.norm)
    for (int r = 0; r < 2; ++r)
      z[r] = e.fmul(z[r], rowInv);
  e.ifThen(e.eq(lane, I(0)), [&] {
    for (int r = 0; r < 2; ++r)
      memref::StoreOp::create(b, z[r], wg[l.zIndex],
                              ValueRange{zSlot(local, r)});
  });
}

// One iteration of the pipeline: iteration it + 1's loads are issued
// before iteration it's arithmetic. Rolling (tune.roll): slot by slot
// instead, slot u of iteration it + 1 as soon as slot u of iteration it has
// been consumed, so a lane keeps about `unroll` slots in flight in one set
// of registers rather than needing two sets for `unroll` slots.
SmallVector<Value> GemvBuilder::iteration(Value it, ValueRange carried,
                                          size_t nacc) {
  ValueRange acc = carried.take_front(nacc);
  ValueRange cur = carried.drop_front(nacc);
  Value nextIt = e.add(it, I(1));
  Value hasNext = e.lt(nextIt, total);
  SmallVector<Value> next;
  // The loads of `nextIt` when there is one, else `keep`.
  auto prefetch = [&](ValueRange keep,
                      const std::function<SmallVector<Value>()> &load) {
    auto op = scf::IfOp::create(b, keep.getTypes(), hasNext,
                                /*withElseRegion=*/true);
    OpBuilder::InsertionGuard guard(b);
    b.setInsertionPointToStart(op.thenBlock());
    scf::YieldOp::create(b, load());
    b.setInsertionPointToStart(op.elseBlock());
    scf::YieldOp::create(b, keep);
    llvm::append_range(next, op.getResults());
  };
  Value step = stepOf(it);
  SmallVector<Value> out;
  if (tune.roll) {
    if (l.nHoisted)
      prefetch(cur.take_front(l.nHoisted), [&] { return loadHoisted(nextIt); });
    out = computeIter(step, cur, acc, [&](int64_t u) {
      prefetch(cur.slice(l.nHoisted + u * l.perSlot, l.perSlot),
               [&] { return loadSlot(nextIt, u); });
    });
  } else {
    prefetch(cur, [&] { return loadIter(nextIt); });
    out = computeIter(step, cur, acc, [](int64_t) {});
  }
  if (l.steps == 1) {
    finishPair(it, out);
    for (Value &v : out)
      v = e.f32(0);
  } else {
    Value isLast = e.eq(step, I(l.steps - 1));
    e.ifThen(isLast, [&] { finishPair(e.div(it, I(l.steps)), out); });
    for (Value &v : out)
      v = e.select(isLast, e.f32(0), v);
  }
  llvm::append_range(out, next);
  return out;
}

void GemvBuilder::mainLoop(ValueRange first) {
  size_t nacc = l.norm && !l.shared ? 9 : 8;
  SmallVector<Value> init(nacc, e.f32(0));
  init.append(first.begin(), first.end());
  e.forRange(I(0), total, I(1), init, [&](Value it, ValueRange carried) {
    return iteration(it, carried, nacc);
  });
}

void GemvBuilder::build(ValueRange args, ValueRange workgroup) {
  wg.assign(workgroup.begin(), workgroup.end());
  bindArgs(args);
  assignWork();
  // The very first loads are issued before x is staged.
  SmallVector<Value> first = loadIter(I(0));
  stageX();
  magic = i32Const(b, 0x4B000000);
  halfBits = i32Const(b, 0x3F000000);
  nibbles = i32Const(b, 0x0F0F0F0F);
  mainLoop(first);
  epilogues();
}

KernelLaunch KernelLibrary::fusedGemv(const LinearSpec &s,
                                      const GemvConfig &tune) {
  assert(s.m == 1 && "the GEMV computes one row");
  MLIRContext *ctx = module.getContext();
  const GemvLayout layout(s, tune);
  std::string table = s.qkv ? constantTable("rope_inv_freq", s.invFreqs) : "";
  std::string name =
      linearName("fgemv", s, s.qkv ? table.substr(table.rfind('_') + 1) : "") +
      tune.suffix;
  SmallVector<Type> args = linearArgTypes(ctx, s, scalarsType());
  auto fn = getOrBuild(name, args, layout.workgroup(), kGemvBlock,
                       [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
                         GemvBuilder(e, s, tune, layout, table).build(a, wg);
                       });
  // ptxas keeps the registers within blocksPerSM blocks per SM.
  fn->setAttr("nvvm.minctasm",
              IntegerAttr::get(IntegerType::get(ctx, 32), tune.blocksPerSM));
  if (layout.shared)
    fn.setWorkgroupAttributionAttr(
        0, LLVM::LLVMDialect::getAlignAttrName(),
        IntegerAttr::get(IntegerType::get(ctx, 64), 16));
  fn->setAttr(KernelConfig::kAttrName, config.attr(ctx, tune));
  KernelLaunch launch{fn, {tune.grid, 1, 1}, {kGemvBlock, 1, 1}};
  if (tune.runtimeGrid())
    launch.persistent = {tune.blocksPerSM, tune.minBlocks, tune.maxBlocks};
  return launch;
}
