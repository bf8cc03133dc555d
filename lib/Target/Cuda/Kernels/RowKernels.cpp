//===- RowKernels.cpp - one block per row: embedding, RMSNorm, RoPE, ... --===//
//
// The memory-light kernels: a block handles one row (a token), its threads
// stride over the row. RMSNorm reduces the row's sum of squares with warp
// shuffles and one pass through shared memory.
//
//===----------------------------------------------------------------------===//

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

/// Threads for a row of `n` elements: whole warps, at most 256.
static int64_t rowBlock(int64_t n) {
  return std::clamp<int64_t>((n + 31) / 32 * 32, 32, 256);
}

KernelLaunch KernelLibrary::embedding(int64_t vocab, int64_t hidden,
                                      int64_t rows, Type tableT, Type outT) {
  Type i32 = IntegerType::get(module.getContext(), 32);
  int64_t block = rowBlock(hidden);
  std::string name =
      llvm::formatv("embedding_v{0}_h{1}_r{2}_{3}_{4}", vocab, hidden, rows,
                    typeName(tableT), typeName(outT));
  auto fn = getOrBuild(
      name,
      {flat(vocab * hidden, tableT), flat(rows, i32),
       flat(rows * hidden, outT)},
      {}, block, [&](KernelEmitter &e, ValueRange a, ValueRange) {
        auto &b = e.builder();
        Value r = e.blockId();
        Value id = memref::LoadOp::create(b, a[1], ValueRange{r});
        // Clamp: padding rows of a prefill chunk may hold anything.
        id = arith::MaxSIOp::create(b, id, e.i32(0));
        id = arith::MinSIOp::create(b, id, e.i32(vocab - 1));
        Value src = e.mul(e.i32ToIndex(id), e.idx(hidden));
        Value dst = e.mul(r, e.idx(hidden));
        e.forRange(e.threadId(), e.idx(hidden), e.idx(block), [&](Value c) {
          e.store(a[2], e.add(dst, c), e.load(a[0], e.add(src, c)));
        });
      });
  return {fn, {rows, 1, 1}, {block, 1, 1}};
}

KernelLaunch KernelLibrary::rmsNorm(int64_t rows, int64_t hidden, double eps,
                                    Type xT, Type wT, Type outT) {
  int64_t block = rowBlock(hidden), warps = block / 32;
  std::string name = llvm::formatv("rms_norm_r{0}_h{1}_eps{2:e}_{3}_{4}_{5}",
                                   rows, hidden, eps, typeName(xT),
                                   typeName(wT), typeName(outT));
  std::replace(name.begin(), name.end(), '+', 'p');
  std::replace(name.begin(), name.end(), '-', 'm');
  std::replace(name.begin(), name.end(), '.', 'd');
  auto fn = getOrBuild(
      name, {flat(rows * hidden, xT), flat(hidden, wT), flat(rows * hidden, outT)},
      {32}, block, [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
        Value base = e.mul(e.blockId(), e.idx(hidden));
        Value tid = e.threadId();
        Value partial =
            e.forRange(tid, e.idx(hidden), e.idx(block), {e.f32(0)},
                       [&](Value c, ValueRange acc) -> SmallVector<Value> {
                         Value v = e.load(a[0], e.add(base, c));
                         return {e.fma(v, v, acc[0])};
                       })[0];
        Value total = e.blockSum(partial, wg[0], warps);
        Value mean = e.fdiv(total, e.f32(double(hidden)));
        Value inv = e.fdiv(e.f32(1.0), e.sqrt(e.fadd(mean, e.f32(eps))));
        e.forRange(tid, e.idx(hidden), e.idx(block), [&](Value c) {
          Value v = e.load(a[0], e.add(base, c));
          e.store(a[2], e.add(base, c), e.fmul(e.fmul(v, inv), e.load(a[1], c)));
        });
      });
  return {fn, {rows, 1, 1}, {block, 1, 1}};
}

KernelLaunch KernelLibrary::rope(int64_t rows, int64_t heads, int64_t dim,
                                 ArrayRef<float> invFreqs, Type xT,
                                 Type outT) {
  int64_t half = dim / 2, pairs = heads * half;
  int64_t block = rowBlock(pairs);
  std::string table = constantTable("rope_inv_freq", invFreqs);
  std::string name =
      llvm::formatv("rope_r{0}_h{1}_d{2}_{3}_{4}_{5}", rows, heads, dim,
                    table.substr(table.rfind('_') + 1), typeName(xT),
                    typeName(outT));
  auto fn = getOrBuild(
      name,
      {flat(rows * heads * dim, xT), flat(rows * heads * dim, outT),
       scalarsType()},
      {}, block, [&](KernelEmitter &e, ValueRange a, ValueRange) {
        auto &b = e.builder();
        Value freqs = memref::GetGlobalOp::create(
            b, flat(half, b.getF32Type()), table);
        Value r = e.blockId();
        Value pos = e.i32ToIndex(
            memref::LoadOp::create(b, a[2], ValueRange{e.idx(kPos)}));
        // HF multiplies the f32 position by the f32 frequency.
        Value p = e.indexToF32(e.add(pos, r));
        e.forRange(e.threadId(), e.idx(pairs), e.idx(block), [&](Value t) {
          Value h = e.div(t, e.idx(half)), i = e.rem(t, e.idx(half));
          Value angle =
              e.fmul(p, memref::LoadOp::create(b, freqs, ValueRange{i}));
          auto [sin, cos] = e.sinCos(angle);
          Value base = e.mul(e.add(e.mul(r, e.idx(heads)), h), e.idx(dim));
          Value i1 = e.add(base, i), i2 = e.add(i1, e.idx(half));
          Value x1 = e.load(a[0], i1), x2 = e.load(a[0], i2);
          e.store(a[1], i1, e.fsub(e.fmul(x1, cos), e.fmul(x2, sin)));
          e.store(a[1], i2, e.fadd(e.fmul(x2, cos), e.fmul(x1, sin)));
        });
      });
  return {fn, {rows, 1, 1}, {block, 1, 1}};
}

KernelLaunch KernelLibrary::kvAppend(int64_t rows, int64_t kvHeads,
                                     int64_t dim, int64_t capacity, Type rowT,
                                     Type cacheT) {
  int64_t width = kvHeads * dim, block = rowBlock(width);
  std::string name =
      llvm::formatv("kv_append_r{0}_h{1}_d{2}_s{3}_{4}_{5}", rows, kvHeads,
                    dim, capacity, typeName(rowT), typeName(cacheT));
  auto fn = getOrBuild(
      name,
      {flat(rows * width, rowT), flat(kvHeads * capacity * dim, cacheT),
       scalarsType()},
      {}, block, [&](KernelEmitter &e, ValueRange a, ValueRange) {
        auto &b = e.builder();
        Value r = e.blockId();
        Value pos = e.i32ToIndex(
            memref::LoadOp::create(b, a[2], ValueRange{e.idx(kPos)}));
        Value p = e.add(pos, r);
        e.ifThen(e.lt(p, e.idx(capacity)), [&] {
          e.forRange(e.threadId(), e.idx(width), e.idx(block), [&](Value t) {
            Value h = e.div(t, e.idx(dim)), d = e.rem(t, e.idx(dim));
            Value dst = e.add(
                e.mul(e.add(e.mul(h, e.idx(capacity)), p), e.idx(dim)), d);
            e.store(a[1], dst, e.load(a[0], e.add(e.mul(r, e.idx(width)), t)));
          });
        });
      });
  return {fn, {rows, 1, 1}, {block, 1, 1}};
}

KernelLaunch KernelLibrary::copyRows(int64_t rows, int64_t width,
                                     int64_t count, int64_t offset,
                                     bool fromValidRows, Type inT, Type outT) {
  int64_t block = rowBlock(width);
  std::string name = llvm::formatv(
      "copy_rows_r{0}_w{1}_c{2}_{3}{4}_{5}_{6}", rows, width, count,
      fromValidRows ? "nvalid" : "", offset < 0 ? "m" + std::to_string(-offset)
                                                : std::to_string(offset),
      typeName(inT), typeName(outT));
  auto fn = getOrBuild(
      name, {flat(rows * width, inT), flat(count * width, outT), scalarsType()},
      {}, block, [&](KernelEmitter &e, ValueRange a, ValueRange) {
        auto &b = e.builder();
        Value first = e.i32(offset);
        if (fromValidRows)
          first = arith::AddIOp::create(
              b, memref::LoadOp::create(b, a[2], ValueRange{e.idx(kNValid)}),
              first);
        Value r = e.blockId();
        Value row = arith::AddIOp::create(
            b, first, arith::IndexCastOp::create(b, b.getI32Type(), r));
        row = arith::MaxSIOp::create(b, row, e.i32(0));
        row = arith::MinSIOp::create(b, row, e.i32(rows - 1));
        Value src = e.mul(e.i32ToIndex(row), e.idx(width));
        Value dst = e.mul(r, e.idx(width));
        e.forRange(e.threadId(), e.idx(width), e.idx(block), [&](Value c) {
          e.store(a[1], e.add(dst, c), e.load(a[0], e.add(src, c)));
        });
      });
  return {fn, {count, 1, 1}, {block, 1, 1}};
}

KernelLaunch KernelLibrary::elementwise(ElementwiseKind kind, int64_t n,
                                        Type aT, Type bT, Type outT) {
  const char *op = kind == ElementwiseKind::Add   ? "add"
                   : kind == ElementwiseKind::Mul ? "mul"
                   : kind == ElementwiseKind::Silu ? "silu"
                                                   : "swiglu";
  bool binary = kind != ElementwiseKind::Silu;
  constexpr int64_t block = 256;
  std::string name =
      llvm::formatv("{0}_n{1}_{2}_{3}_{4}", op, n, typeName(aT),
                    binary ? typeName(bT) : "", typeName(outT));
  SmallVector<Type> args{flat(n, aT)};
  if (binary)
    args.push_back(flat(n, bT));
  args.push_back(flat(n, outT));
  auto fn = getOrBuild(
      name, args, {}, block, [&](KernelEmitter &e, ValueRange a, ValueRange) {
        Value i = e.add(e.mul(e.blockId(), e.idx(block)), e.threadId());
        e.ifThen(e.lt(i, e.idx(n)), [&] {
          Value x = e.load(a[0], i);
          auto silu = [&](Value v) {
            // v * sigmoid(v) = v / (1 + e^-v)
            return e.fdiv(v, e.fadd(e.f32(1.0), e.exp(e.fsub(e.f32(0), v))));
          };
          Value out;
          switch (kind) {
          case ElementwiseKind::Add:
            out = e.fadd(x, e.load(a[1], i));
            break;
          case ElementwiseKind::Mul:
            out = e.fmul(x, e.load(a[1], i));
            break;
          case ElementwiseKind::Silu:
            out = silu(x);
            break;
          case ElementwiseKind::SwiGlu:
            out = e.fmul(silu(x), e.load(a[1], i));
            break;
          }
          e.store(a[binary ? 2 : 1], i, out);
        });
      });
  return {fn, {(n + block - 1) / block, 1, 1}, {block, 1, 1}};
}
