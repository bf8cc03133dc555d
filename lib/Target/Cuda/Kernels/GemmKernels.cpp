//===- GemmKernels.cpp - the prefill GEMM of a LinearSpec -----------------===//
//
// z = x' . W^T for m > 1 rows, with the prologue and epilogues of a
// LinearSpec (KernelLibrary.h) fused in. A block of 256 threads owns a
// bm x bn tile of z and walks k in steps of bk:
//
//   - pipeline: x and W tiles have two shared-memory buffers each; tile i
//     is multiplied from one while tile i + 1 is stored to the other and
//     tile i + 2 is loaded into registers: one barrier per tile.
//   - staging: each thread loads chunks of 8 consecutive k elements of one
//     row of x or W (one 16-byte load for 16-bit floats, 8 or 4 bytes of
//     codes for int8/int4), turns them into f32 (x * normW for the RMSNorm
//     prologue; dequantization (q - zero) * scale for W) and stores them to
//     shared memory. Loads run a tile ahead, so their latency hides behind
//     the arithmetic; full-precision weights never exist in global memory.
//   - RMSNorm: the row factor r = rsqrt(mean(x^2) + eps) is a scalar per
//     row, so it comes out of the dot product: z = r * ((x * normW) . W).
//     The threads staging a row's chunks also sum their squares on the way
//     (no extra pass over x), meet through shuffles after the loop, and the
//     epilogue scales the accumulators by r.
//   - multiply, on one of two paths:
//       mma:  16-bit activations (f16, bf16). Tiles are stored in shared
//             memory in that type, k-contiguous ([row][bk + 8] halves, the
//             padding keeps fragment loads free of bank conflicts), and the
//             eight warps (2 along m, 4 along n) multiply them with
//             mma.sync.m16n8k16 (f32 accumulators). Dequantized weights and
//             x * normW are rounded to the activation type (r stays f32).
//       simt: f32 activations. Tiles are stored as f32, k-major, and each
//             thread of a 16 x 16 grid accumulates a tm x tn patch with f32
//             FMAs (rows ty*tm .. +tm, columns in groups of four).
//   - epilogue: each thread owns its output columns in adjacent pairs
//     (2i, 2i + 1), which is what SwiGLU (gate, up) and RoPE (rotate-half
//     partners in pair order) need: bias, then residual, SwiGLU or the qkv
//     scatter (RoPE of q and k at position pos + r with RowKernels' angle
//     math, q to y in rotate-half layout, k and v into the caches).
//
// Extents need not be multiples of the tiles: rows, columns and k beyond the
// edges are zero-filled in staging (addresses are clamped, so nothing out of
// bounds is read) and skipped in the epilogue.
//
// The builder (GemmBuilder.h) is split by stage: GemmStaging.cpp,
// GemmChunks.cpp, GemmMultiply.cpp and GemmEpilogue.cpp; this file holds the
// pipeline (GemmBuilder::build) and KernelLibrary::fusedGemm.
//
//===----------------------------------------------------------------------===//

#include "GemmBuilder.h"
#include "LinearSignature.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemm;

//===----------------------------------------------------------------------===//
// The kernel
//===----------------------------------------------------------------------===//

void GemmBuilder::build(ValueRange a, ValueRange wg) {
  size_t next = 0;
  x = a[next++];
  if (s.quant) {
    codes = a[next++];
    params = a[next++];
  } else {
    w = a[next++];
  }
  if (s.biasT)
    bias = a[next++];
  if (s.normT)
    normW = a[next++];
  if (s.residualT)
    residual = a[next++];
  y = a[next++];
  if (s.qkv) {
    kCache = a[next++];
    vCache = a[next++];
    scalars = a[next++];
  }
  size_t at = 0;
  if (s.normT)
    invRows = wg[at++];
  xs = wg[at++];
  ws = wg[at++];

  tid = e.threadId();
  n0 = e.mul(e.blockId(gpu::Dimension::x), e.idx(t.bn));
  m0 = e.mul(e.blockId(gpu::Dimension::y), e.idx(t.bm));
  if (s.qkv) {
    freqs = memref::GetGlobalOp::create(
        b, KernelLibrary::flat(s.headDim / 2, f32), freqTable);
    pos = e.i32ToIndex(
        memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
  }

  // Two buffers per operand: tile i is multiplied from buffer i % 2 while
  // tile i + 1 is stored to the other and tile i + 2 is loaded into
  // registers, one barrier per tile. Loop-carried: the accumulators, the
  // norm's sums of squares (one per x staging pass), the raw loads of the
  // tile after next.
  int64_t accs = t.mma ? t.mi() * t.ni() * 4 : t.tm * t.tn;
  int64_t squares = s.normT ? xPasses() : 0;
  SmallVector<Value> zeros(squares, e.f32(0));
  SmallVector<Value> init(accs, e.f32(0));
  init.append(storeTile(loadTile(e.idx(0)), e.idx(0), zeros, e.idx(0)));
  init.append(loadTile(e.idx(t.bk)));
  e.barrier();
  int64_t kTiles = ceilDiv(s.k, t.bk);
  SmallVector<Value> result = e.forRange(
      e.idx(0), e.idx(kTiles * t.bk), e.idx(t.bk), init,
      [&](Value k0, ValueRange it) -> SmallVector<Value> {
        Value buffer = e.rem(e.div(k0, e.idx(t.bk)), e.idx(2));
        SmallVector<Value> next =
            t.mma ? multiplyMma(it.take_front(accs), buffer)
                  : multiplySimt(it.take_front(accs), buffer);
        // Past the end of k the tile is zeros (and adds nothing).
        SmallVector<Value> sq =
            storeTile(it.drop_front(accs + squares), e.add(k0, e.idx(t.bk)),
                      it.slice(accs, squares), e.sub(e.idx(1), buffer));
        SmallVector<Value> raw = loadTile(e.add(k0, e.idx(2 * t.bk)));
        e.barrier();
        next.append(sq);
        next.append(raw);
        return next;
      });
  ValueRange acc = ValueRange(result).take_front(accs);
  if (s.normT)
    normFactors(ValueRange(result).slice(accs, squares));
  if (t.mma)
    epilogueMma(acc);
  else
    epilogueSimt(acc);
}

KernelLaunch KernelLibrary::fusedGemm(const LinearSpec &spec,
                                      const GemmConfig &t) {
  const LinearSpec &s = spec;
  assert(s.m >= 1 && s.n >= 1 && s.k >= 1 && "empty GEMM");
  assert((!s.swiglu || s.n % 2 == 0) && "swiglu needs column pairs");
  assert((!s.qkv || (s.n == (s.heads + 2 * s.kvHeads) * s.headDim &&
                     s.headDim % 2 == 0 &&
                     int64_t(s.invFreqs.size()) == s.headDim / 2 &&
                     !s.residualT && !s.swiglu)) &&
         "qkv: n is (heads + 2 kvHeads) headDim");
  assert((!s.quant || s.quant.bits == 8 || s.quant.bits == 4) &&
         "int8 or int4 codes");
  MLIRContext *ctx = module.getContext();
  Type i32 = IntegerType::get(ctx, 32);

  std::string table;
  if (s.qkv)
    table = constantTable("rope_inv_freq", s.invFreqs);

  // The plain GEMM keeps the name of LinearKernels' gemm.
  std::string wName =
      s.quant ? llvm::formatv("q{0}g{1}{2}", s.quant.bits, s.quant.group,
                              typeName(s.quant.scaleT))
                    .str()
              : typeName(s.wT);
  std::string name = llvm::formatv("gemm_m{0}_n{1}_k{2}_{3}_{4}", s.m, s.n,
                                   s.k, typeName(s.xT), wName);
  if (s.biasT)
    name += "_bias_" + typeName(s.biasT);
  if (s.normT)
    name += "_norm_" + typeName(s.normT) + "_eps" + floatName(s.eps);
  if (s.swiglu)
    name += "_swiglu";
  if (s.qkv)
    name += llvm::formatv("_qkv_h{0}_kv{1}_d{2}_s{3}_{4}_{5}", s.heads,
                          s.kvHeads, s.headDim, s.capacity,
                          table.substr(table.rfind('_') + 1),
                          typeName(s.cacheT))
                .str();
  if (s.residualT)
    name += "_res_" + typeName(s.residualT);
  name += "_" + typeName(s.yT);
  if (t.forced)
    name += llvm::formatv("_tile{0}x{1}", t.bm, t.bn).str();

  SmallVector<Type> args = linearArgTypes(ctx, s, scalarsType());

  SmallVector<int64_t> wgF32;
  SmallVector<Type> wgOther;
  if (s.normT)
    wgF32.push_back(t.bm);
  // Two buffers each of the x and W tiles.
  if (t.mma) {
    wgOther.push_back(flat(2 * t.bm * t.ldw(), i32));
    wgOther.push_back(flat(2 * t.bn * t.ldw(), i32));
  } else {
    wgF32.push_back(2 * t.bk * t.bm);
    wgF32.push_back(2 * t.bk * t.bn);
  }

  auto fn = getOrBuild(name, args, wgF32, kThreads,
                       [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
                         GemmBuilder(e, s, t, table).build(a, wg);
                       },
                       wgOther);
  // Two blocks per SM: registers capped at 128 a thread (the 128 x 128
  // tiles need about that many).
  fn->setAttr("nvvm.minctasm", IntegerAttr::get(i32, 2));
  fn->setAttr(KernelConfig::kAttrName, config.attr(ctx, t));
  // Tiles are read with 16-byte vector loads.
  for (unsigned i = 0, e = fn.getNumWorkgroupAttributions(); i < e; ++i)
    fn.setWorkgroupAttributionAttr(i, "llvm.align",
                                   IntegerAttr::get(IntegerType::get(ctx, 64),
                                                    16));
  return {fn,
          {ceilDiv(s.n, t.bn), ceilDiv(s.m, t.bm), 1},
          {kThreads, 1, 1}};
}
