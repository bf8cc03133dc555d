//===- GemmMultiply.cpp - the prefill GEMM's inner product ----------------===//
//
// One k tile's products, from the shared-memory buffers staging filled
// (GemmStaging.cpp) into the accumulators: mma.sync.m16n8k16 for 16-bit
// activations, f32 FMAs on a 16 x 16 thread grid for f32 (GemmKernels.cpp
// describes both paths).
//
//===----------------------------------------------------------------------===//

#include "GemmBuilder.h"

#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/LLVMIR/NVVMDialect.h"

using namespace mlir;
using namespace monocard::gpu_kernels;
using namespace monocard::gpu_kernels::gemm;

SmallVector<Value> GemmBuilder::multiplySimt(ValueRange acc, Value buffer) {
  // Thread (ty, tx) of the 16 x 16 grid: rows ty * tm + i, columns
  // j * 64 + tx * 4 + q (groups of four, so pairs stay together).
  Value tx = e.rem(tid, e.idx(16)), ty = e.div(tid, e.idx(16));
  Value rowOff = e.add(e.mul(buffer, e.idx(xTileSize())),
                       e.mul(ty, e.idx(t.tm)));
  Value colOff = e.add(e.mul(buffer, e.idx(wTileSize())),
                       e.mul(tx, e.idx(4)));
  SmallVector<Value> sums(acc.begin(), acc.end());
  for (int64_t kk = 0; kk < t.bk; ++kk) {
    SmallVector<Value> av, bv;
    for (int64_t i = 0; i < t.tm; i += 4) {
      Value v = e.loadVector(
          xs, e.add(e.idx(kk * t.bm + i), rowOff), 4);
      for (int64_t q = 0; q < 4; ++q)
        av.push_back(extract(v, q));
    }
    for (int64_t j = 0; j < t.tn / 4; ++j) {
      Value v = e.loadVector(
          ws, e.add(e.idx(kk * t.bn + j * 64), colOff), 4);
      for (int64_t q = 0; q < 4; ++q)
        bv.push_back(extract(v, q));
    }
    for (int64_t i = 0; i < t.tm; ++i)
      for (int64_t j = 0; j < t.tn; ++j)
        sums[i * t.tn + j] = e.fma(av[i], bv[j], sums[i * t.tn + j]);
  }
  return sums;
}

SmallVector<Value> GemmBuilder::multiplyMma(ValueRange acc, Value buffer) {
  MLIRContext *ctx = b.getContext();
  Value lane = e.rem(tid, e.idx(32)), warp = e.div(tid, e.idx(32));
  Value g = e.div(lane, e.idx(4)), tig = e.rem(lane, e.idx(4));
  Value wm0 = e.mul(e.div(warp, e.idx(t.wn)), e.idx(t.bm / t.wm));
  Value wn0 = e.mul(e.rem(warp, e.idx(t.wn)), e.idx(t.bn / t.wn));
  int64_t ld = t.ldw();
  auto f32x4 = LLVM::LLVMStructType::getLiteral(ctx, {f32, f32, f32, f32});
  bool bf16 = s.xT.isBF16();
  auto operand = [&](Value word) -> Value {
    if (bf16)
      return word;
    return LLVM::BitcastOp::create(b, vecType(2, b.getF16Type()), word);
  };
  Value xOff = e.add(e.mul(buffer, e.idx(xTileSize())), tig);
  Value wOff = e.add(e.mul(buffer, e.idx(wTileSize())), tig);
  auto word = [&](Value shared, Value row, int64_t col) {
    Value off = shared == xs ? xOff : wOff;
    return operand(memref::LoadOp::create(
        b, shared,
        ValueRange{e.add(e.mul(row, e.idx(ld)), e.add(off, e.idx(col)))}));
  };
  SmallVector<Value> sums(acc.begin(), acc.end());
  NVVM::MMATypes ptxType = bf16 ? NVVM::MMATypes::bf16 : NVVM::MMATypes::f16;
  for (int64_t ks = 0; ks < t.bk / 16; ++ks) {
    // A fragments (m16 x k16, row): rows g and g + 8, word columns tig and
    // tig + 4 of the k16 step.
    SmallVector<SmallVector<Value, 4>> af;
    for (int64_t i = 0; i < t.mi(); ++i) {
      Value r = e.add(wm0, e.add(g, e.idx(i * 16)));
      Value r8 = e.add(r, e.idx(8));
      af.push_back({word(xs, r, ks * 8), word(xs, r8, ks * 8),
                    word(xs, r, ks * 8 + 4), word(xs, r8, ks * 8 + 4)});
    }
    // B fragments (k16 x n8, col): column g, k words tig and tig + 4.
    SmallVector<SmallVector<Value, 2>> bfr;
    for (int64_t j = 0; j < t.ni(); ++j) {
      Value c = e.add(wn0, e.add(g, e.idx(j * 8)));
      bfr.push_back({word(ws, c, ks * 8), word(ws, c, ks * 8 + 4)});
    }
    for (int64_t i = 0; i < t.mi(); ++i)
      for (int64_t j = 0; j < t.ni(); ++j) {
        int64_t at = (i * t.ni() + j) * 4;
        SmallVector<Value> c(sums.begin() + at, sums.begin() + at + 4);
        Value d = NVVM::MmaOp::create(
            b, f32x4, af[i], bfr[j], c, ArrayRef<int64_t>{16, 8, 16},
            std::nullopt, std::nullopt,
            std::array<NVVM::MMATypes, 2>{ptxType, ptxType},
            std::array<NVVM::MMALayout, 2>{NVVM::MMALayout::row,
                                           NVVM::MMALayout::col});
        for (int64_t q = 0; q < 4; ++q)
          sums[at + q] =
              LLVM::ExtractValueOp::create(b, d, ArrayRef<int64_t>{q});
      }
  }
  return sums;
}
