//===- LinearKernels.cpp - x * W^T: the decode GEMV and the prefill GEMM --===//
//
// Decode is bandwidth bound: every weight byte is read once per token, so
// the GEMV is built to keep the memory system busy. A warp owns one output
// row; each lane reads 16 bytes of the row per load (8 halves or 4 floats),
// the warp covers 512 contiguous bytes per step, four steps are in flight
// per loop iteration, and the lanes' partial sums meet through butterfly
// shuffles. Eight warps (eight rows) per block.
//
// Prefill is compute bound: the GEMM tiles the output 64x64 per block of
// 256 threads, stages 64x16 tiles of x and W through shared memory as f32,
// and each thread accumulates a 4x4 patch in registers.
//
//===----------------------------------------------------------------------===//

#include "KernelBuilders.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/LLVMIR/LLVMDialect.h"
#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

KernelLaunch KernelLibrary::linear(int64_t m, int64_t n, int64_t k, Type xT,
                                   Type wT, Type biasT, Type yT) {
  return m == 1 ? gemv(n, k, xT, wT, biasT, yT)
                : gemm(m, n, k, xT, wT, biasT, yT);
}

/// Elements per 16-byte load of type `t` that also divide `k`.
static int64_t vectorWidth(Type t, int64_t k) {
  int64_t w = 128 / t.getIntOrFloatBitWidth();
  while (w > 1 && k % w)
    w /= 2;
  return w;
}

KernelLaunch KernelLibrary::gemv(int64_t n, int64_t k, Type xT, Type wT,
                                 Type biasT, Type yT) {
  constexpr int64_t warps = 8, block = warps * 32, unroll = 4;
  // x and W are read with the same element offsets, so one width for both.
  int64_t vw = std::min(vectorWidth(wT, k), vectorWidth(xT, k));
  int64_t step = 32 * vw;
  int64_t mainEnd = k / (step * unroll) * (step * unroll);
  std::string name = llvm::formatv("gemv_n{0}_k{1}_{2}_{3}{4}_{5}", n, k,
                                   typeName(xT), typeName(wT),
                                   biasT ? "_bias_" + typeName(biasT) : "",
                                   typeName(yT));
  SmallVector<Type> args{flat(k, xT), flat(n * k, wT)};
  if (biasT)
    args.push_back(flat(n, biasT));
  args.push_back(flat(n, yT));
  auto fn = getOrBuild(
      name, args, {}, block, [&](KernelEmitter &e, ValueRange a, ValueRange) {
        Value x = a[0], w = a[1], y = a.back();
        Value tid = e.threadId();
        Value lane = e.rem(tid, e.idx(32));
        Value row = e.add(e.mul(e.blockId(), e.idx(warps)),
                          e.div(tid, e.idx(32)));
        // The whole warp agrees on `row`, so the shuffles stay convergent.
        e.ifThen(e.lt(row, e.idx(n)), [&] {
          Value rowBase = e.mul(row, e.idx(k));
          Value laneOff = e.mul(lane, e.idx(vw));
          Value acc = e.zeroVector(vw);
          if (mainEnd > 0)
            acc = e.forRange(
                e.idx(0), e.idx(mainEnd), e.idx(step * unroll), {acc},
                [&](Value i, ValueRange it) -> SmallVector<Value> {
                  Value base = e.add(i, laneOff);
                  SmallVector<Value> ws, xs;
                  // All loads first: four 16-byte requests in flight.
                  for (int64_t u = 0; u < unroll; ++u) {
                    Value col = e.add(base, e.idx(u * step));
                    ws.push_back(e.loadVector(w, e.add(rowBase, col), vw));
                    xs.push_back(e.loadVector(x, col, vw));
                  }
                  Value s = it[0];
                  for (int64_t u = 0; u < unroll; ++u)
                    s = e.vfma(ws[u], xs[u], s);
                  return {s};
                })[0];
          if (mainEnd < k)
            acc = e.forRange(
                e.add(e.idx(mainEnd), laneOff), e.idx(k), e.idx(step), {acc},
                [&](Value col, ValueRange it) -> SmallVector<Value> {
                  return {e.vfma(e.loadVector(w, e.add(rowBase, col), vw),
                                 e.loadVector(x, col, vw), it[0])};
                })[0];
          Value sum = e.warpSum(e.vectorSum(acc));
          e.ifThen(e.eq(lane, e.idx(0)), [&] {
            Value out = biasT ? e.fadd(sum, e.load(a[2], row)) : sum;
            e.store(y, row, out);
          });
        });
      });
  return {fn, {(n + warps - 1) / warps, 1, 1}, {block, 1, 1}};
}

KernelLaunch KernelLibrary::gemm(int64_t m, int64_t n, int64_t k, Type xT,
                                 Type wT, Type biasT, Type yT) {
  constexpr int64_t tm = 64, tn = 64, tk = 16, block = 256, per = 4;
  std::string name = llvm::formatv("gemm_m{0}_n{1}_k{2}_{3}_{4}{5}_{6}", m, n,
                                   k, typeName(xT), typeName(wT),
                                   biasT ? "_bias_" + typeName(biasT) : "",
                                   typeName(yT));
  SmallVector<Type> args{flat(m * k, xT), flat(n * k, wT)};
  if (biasT)
    args.push_back(flat(n, biasT));
  args.push_back(flat(m * n, yT));
  auto fn = getOrBuild(
      name, args, {tk * tm, tk * tn}, block,
      [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
        Value x = a[0], w = a[1], y = a.back();
        Value xs = wg[0], ws = wg[1];
        Value tid = e.threadId();
        Value tx = e.rem(tid, e.idx(16)), ty = e.div(tid, e.idx(16));
        Value n0 = e.mul(e.blockId(gpu::Dimension::x), e.idx(tn));
        Value m0 = e.mul(e.blockId(gpu::Dimension::y), e.idx(tm));
        // Tile loads: thread t brings row t/4, columns (t%4)*4 .. +3.
        Value lr = e.div(tid, e.idx(4));
        Value lc = e.mul(e.rem(tid, e.idx(4)), e.idx(4));
        auto stage = [&](Value src, Value shared, Value r0, int64_t rowsTotal,
                         int64_t tileRows, Value k0) {
          Value r = e.add(r0, lr);
          Value inRows = e.lt(r, e.idx(rowsTotal));
          Value safeRow = e.min(r, e.idx(rowsTotal - 1));
          for (int64_t q = 0; q < 4; ++q) {
            Value kk = e.add(lc, e.idx(q));
            Value col = e.add(k0, kk);
            Value ok = e.land(inRows, e.lt(col, e.idx(k)));
            Value safeCol = e.min(col, e.idx(k - 1));
            Value v = e.load(src, e.add(e.mul(safeRow, e.idx(k)), safeCol));
            v = e.select(ok, v, e.f32(0));
            memref::StoreOp::create(e.builder(), v, shared,
                                    ValueRange{e.add(e.mul(kk, e.idx(tileRows)),
                                                     lr)});
          }
        };
        SmallVector<Value> init(per * per, e.f32(0));
        SmallVector<Value> acc = e.forRange(
            e.idx(0), e.idx(k), e.idx(tk), init,
            [&](Value k0, ValueRange it) -> SmallVector<Value> {
              stage(x, xs, m0, m, tm, k0);
              stage(w, ws, n0, n, tn, k0);
              e.barrier();
              SmallVector<Value> sums(it.begin(), it.end());
              for (int64_t kk = 0; kk < tk; ++kk) {
                SmallVector<Value> av, bv;
                for (int64_t i = 0; i < per; ++i)
                  av.push_back(memref::LoadOp::create(
                      e.builder(), xs,
                      ValueRange{e.add(e.idx(kk * tm + i * 16), ty)}));
                for (int64_t j = 0; j < per; ++j)
                  bv.push_back(memref::LoadOp::create(
                      e.builder(), ws,
                      ValueRange{e.add(e.idx(kk * tn + j * 16), tx)}));
                for (int64_t i = 0; i < per; ++i)
                  for (int64_t j = 0; j < per; ++j)
                    sums[i * per + j] = e.fma(av[i], bv[j], sums[i * per + j]);
              }
              e.barrier();
              return sums;
            });
        for (int64_t i = 0; i < per; ++i) {
          Value row = e.add(m0, e.add(ty, e.idx(i * 16)));
          for (int64_t j = 0; j < per; ++j) {
            Value col = e.add(n0, e.add(tx, e.idx(j * 16)));
            e.ifThen(e.land(e.lt(row, e.idx(m)), e.lt(col, e.idx(n))), [&] {
              Value v = acc[i * per + j];
              if (biasT)
                v = e.fadd(v, e.load(a[2], col));
              e.store(y, e.add(e.mul(row, e.idx(n)), col), v);
            });
          }
        }
      });
  return {fn, {(n + tn - 1) / tn, (m + tm - 1) / tm, 1}, {block, 1, 1}};
}

//===----------------------------------------------------------------------===//
// The fused decode GEMV (LinearSpec with m == 1)
//===----------------------------------------------------------------------===//
//
// A warp owns a PAIR of adjacent weight rows (2i, 2i + 1): SwiGLU's gate
// and up rows and RoPE's rotate-half partners are neighbours after the
// packer's pair_rows, so the epilogue finds both in one warp, and every x
// element a lane reads serves two rows. Eight warps (16 rows) per block.
//
// Weights are read in 16-byte "chunks" (8 halves, 4 floats, 16 int8 or 32
// int4 codes); lane l of a warp takes chunks l, l + 32, ... of its rows, so
// a warp reads 512 contiguous bytes of a row per chunk slot, and each lane
// has 2 x U chunk loads in flight (U = 4 slots per step). The next step's
// loads are issued before the current step's arithmetic (loop-carried), and
// the first step's before x is staged, so the DRAM latency overlaps it.
//
// x is staged once per block in shared memory as f32: normalized by normW
// when there is a norm prologue (sum(x^2) reduced across the block in the
// same pass; the 1/rms factor, a per-row scalar, multiplies the dot products
// at the end), zero-filled past K and for one extra "zero chunk" that the
// clamped chunks of a partial last step read, and XOR-swizzled by 16-byte
// slot (slot L lives at L ^ ((L >> 3) & 7)) so that the lanes' 16-byte
// reads of consecutive chunks hit distinct banks. When x does not fit the
// 48 KiB of static shared memory (K above ~12k), lanes read x from global
// memory directly, each warp accumulating sum(x^2) for the norm itself.
//
// Quantized codes are dequantized in f32 without conversions: a PRMT puts a
// code byte (int8, sign bit flipped) or a masked nibble (int4) under the
// exponent of 2^23, so the float is 2^23 + q exactly; subtracting
// 2^23 + zero gives q - zero. A chunk lies in one group, so its 16 or 32
// products are summed and multiplied by the group's scale once.
// Per weight element and row: int4 1 PRMT + 3/8 LOP/SHF, 1 FADD, 1 FFMA;
// int8 1 PRMT + 1/4 LOP, 1 FADD, 1 FFMA; f16/bf16 1 CVT + 1 FFMA; x costs
// one 16-byte shared load per 4 elements, shared by the two rows.

namespace {

constexpr int64_t kGemvWarps = 8, kGemvRowsPerWarp = 2;
constexpr int64_t kGemvBlock = kGemvWarps * 32;
constexpr int64_t kGemvRowsPerBlock = kGemvWarps * kGemvRowsPerWarp;
constexpr int64_t kGemvMaxUnroll = 4;
constexpr int64_t kStaticSharedBytes = 48 * 1024;

std::string floatName(double v) {
  std::string s = llvm::formatv("{0:e}", v).str();
  for (char &c : s)
    if (c == '.')
      c = 'd';
    else if (c == '+')
      c = 'p';
    else if (c == '-')
      c = 'm';
  return s;
}

/// Weight elements per 16-byte chunk of a row.
int64_t chunkElements(const LinearSpec &s) {
  if (s.quant)
    return 128 / s.quant.bits;
  return vectorWidth(s.wT, s.k);
}

/// The kernel's parameter types, in LinearSpec's order.
SmallVector<Type> linearArgTypes(MLIRContext *ctx, const LinearSpec &s,
                                 MemRefType scalars) {
  auto flat = [](int64_t n, Type t) { return MemRefType::get({n}, t); };
  SmallVector<Type> args{flat(s.m * s.k, s.xT)};
  if (s.quant) {
    args.push_back(flat(s.n * s.quant.rowBytes, IntegerType::get(ctx, 8)));
    args.push_back(flat(s.n * s.quant.groups(s.k) * 2, s.quant.scaleT));
  } else {
    args.push_back(flat(s.n * s.k, s.wT));
  }
  if (s.biasT)
    args.push_back(flat(s.n, s.biasT));
  if (s.normT)
    args.push_back(flat(s.k, s.normT));
  if (s.residualT)
    args.push_back(flat(s.m * s.width(), s.residualT));
  args.push_back(flat(s.m * s.width(), s.yT));
  if (s.qkv) {
    int64_t cache = s.kvHeads * s.capacity * s.headDim;
    args.push_back(flat(cache, s.cacheT));
    args.push_back(flat(cache, s.cacheT));
    args.push_back(scalars);
  }
  return args;
}

/// `prefix`_n.._k.._x_w[_bias_T][_norm_T_epsE][_swiglu][_res_T][_qkv_..]_y.
std::string linearName(StringRef prefix, const LinearSpec &s,
                       StringRef tableHash) {
  std::string name = prefix.str();
  if (s.m != 1)
    name += llvm::formatv("_m{0}", s.m).str();
  name += llvm::formatv("_n{0}_k{1}_{2}_", s.n, s.k, typeName(s.xT)).str();
  if (s.quant)
    name += llvm::formatv("i{0}g{1}{2}", s.quant.bits, s.quant.group,
                          typeName(s.quant.scaleT))
                .str();
  else
    name += typeName(s.wT);
  if (s.biasT)
    name += "_bias_" + typeName(s.biasT);
  if (s.normT)
    name += "_norm_" + typeName(s.normT) + "_eps" + floatName(s.eps);
  if (s.swiglu)
    name += "_swiglu";
  if (s.residualT)
    name += "_res_" + typeName(s.residualT);
  if (s.qkv)
    name += llvm::formatv("_qkv_h{0}_kv{1}_d{2}_s{3}_{4}_{5}", s.heads,
                          s.kvHeads, s.headDim, s.capacity, tableHash,
                          typeName(s.cacheT))
                .str();
  return name + "_" + typeName(s.yT);
}

Value i32Const(ImplicitLocOpBuilder &b, int64_t v) {
  return arith::ConstantIntOp::create(b, b.getI32Type(), int32_t(v));
}

/// PRMT: bytes of {hi, lo} picked by the selector's nibbles.
Value prmt(ImplicitLocOpBuilder &b, Value lo, Value hi, Value selector) {
  return LLVM::CallIntrinsicOp::create(b, b.getI32Type(),
                                       b.getStringAttr("llvm.nvvm.prmt"),
                                       ValueRange{lo, hi, selector})
      .getResult(0);
}

/// A 16-byte (or narrower) vector of `n` elements of `mem` as stored.
Value loadRaw(ImplicitLocOpBuilder &b, Value mem, Value i, int64_t n) {
  Type elt = cast<MemRefType>(mem.getType()).getElementType();
  int64_t bytes = n * elt.getIntOrFloatBitWidth() / 8;
  return vector::LoadOp::create(b, VectorType::get({n}, elt), mem,
                                ValueRange{i}, /*nontemporal=*/false,
                                llvm::MaybeAlign(std::min<int64_t>(bytes, 16)));
}

Value toF32(ImplicitLocOpBuilder &b, Value v) {
  auto vt = cast<VectorType>(v.getType());
  if (vt.getElementType().isF32())
    return v;
  return arith::ExtFOp::create(
      b, VectorType::get(vt.getShape(), b.getF32Type()), v);
}

Value extract(ImplicitLocOpBuilder &b, Value v, int64_t i) {
  return vector::ExtractOp::create(b, v, ArrayRef<int64_t>{i});
}

} // namespace

std::string KernelLibrary::linearUnsupported(const LinearSpec &s) {
  if (s.quant) {
    if (s.quant.bits != 4 && s.quant.bits != 8)
      return llvm::formatv("{0}-bit weights are not supported by the CUDA "
                           "linear kernels (int4 and int8 are)",
                           s.quant.bits);
    int64_t epv = 128 / s.quant.bits;
    if (s.quant.group <= 0 ||
        (s.quant.group % epv != 0 && s.quant.group < s.k))
      return llvm::formatv(
          "a quantization group of {0} is not supported by the CUDA linear "
          "kernels: int{1} groups must be a multiple of {2} elements (one "
          "16-byte load) or span the whole row",
          s.quant.group, s.quant.bits, epv);
  }
  if (s.qkv && (s.headDim % 2 || s.n != (s.heads + 2 * s.kvHeads) *
                                              s.headDim))
    return "the qkv epilogue needs an even head dimension and (heads + 2 kv "
           "heads) x head_dim weight rows";
  if (s.swiglu && s.n % 2)
    return "the swiglu epilogue needs an even number of weight rows";
  return "";
}

KernelLaunch KernelLibrary::fusedLinear(const LinearSpec &spec) {
  if (!linearUnsupported(spec).empty())
    return {};
  return spec.m == 1 ? fusedGemv(spec) : fusedGemm(spec);
}

KernelLaunch KernelLibrary::fusedGemv(const LinearSpec &s) {
  assert(s.m == 1 && "the GEMV computes one row");
  MLIRContext *ctx = module.getContext();
  const int64_t n = s.n, k = s.k;
  const bool quant = bool(s.quant), norm = bool(s.normT);
  const int64_t epv = chunkElements(s);
  // Chunks per row; with a short last chunk (quantized rows are padded to
  // 16 bytes, so its load stays in the row).
  const int64_t chunks = (k + epv - 1) / epv;
  const int64_t unroll =
      std::clamp<int64_t>((chunks + 31) / 32, 1, kGemvMaxUnroll);
  const int64_t stepChunks = 32 * unroll;
  const int64_t steps = (chunks + stepChunks - 1) / stepChunks;
  // The last step has chunk slots past the row: their loads are clamped
  // into it and their x is zero.
  const bool partial = chunks % stepChunks != 0;
  const bool tail = k % epv != 0;
  // x in shared memory: `slotsPerChunk` 16-byte slots of 4 f32 per chunk,
  // plus the zero chunk, rounded up to whole swizzle groups of 8 slots.
  const int64_t slotsPerChunk = epv / 4;
  const int64_t slots = (chunks + 1) * slotsPerChunk;
  const int64_t sharedFloats = (slots + 7) / 8 * 8 * 4;
  const bool shared = epv % 4 == 0 &&
                      sharedFloats * 4 + kGemvWarps * 4 <= kStaticSharedBytes;
  const int64_t groups = quant ? s.quant.groups(k) : 1;
  const int64_t rowBytes = quant ? s.quant.rowBytes : 0;
  const bool hoistParams = quant && groups == 1;
  const int64_t chunksPerGroup = quant && groups > 1 ? s.quant.group / epv : 1;
  // x vectors read from global memory (no shared staging): as wide as a
  // chunk allows, dividing K so that clamped loads stay aligned.
  auto globalWidth = [&](Type t) {
    int64_t w = std::min<int64_t>(vectorWidth(t, k), epv);
    while (w > 1 && (k % w || epv % w))
      w /= 2;
    return w;
  };
  const int64_t xw = norm ? std::min(globalWidth(s.xT), globalWidth(s.normT))
                          : globalWidth(s.xT);

  std::string table = s.qkv ? constantTable("rope_inv_freq", s.invFreqs) : "";
  std::string name =
      linearName("fgemv", s, s.qkv ? table.substr(table.rfind('_') + 1) : "");
  SmallVector<Type> args = linearArgTypes(ctx, s, scalarsType());
  SmallVector<int64_t> workgroup;
  if (shared)
    workgroup = {sharedFloats, kGemvWarps};

  auto fn = getOrBuild(
      name, args, workgroup, kGemvBlock,
      [&](KernelEmitter &e, ValueRange a, ValueRange wg) {
        ImplicitLocOpBuilder &b = e.builder();
        Type f32 = b.getF32Type(), i32 = b.getI32Type();
        // Parameters, in LinearSpec's order.
        unsigned next = 0;
        Value x = a[next++], w = a[next++], params;
        if (quant)
          params = a[next++];
        Value bias = s.biasT ? a[next++] : Value();
        Value normW = norm ? a[next++] : Value();
        Value residual = s.residualT ? a[next++] : Value();
        Value y = a[next++];
        Value keyCache, valueCache, scalars;
        if (s.qkv) {
          keyCache = a[next++];
          valueCache = a[next++];
          scalars = a[next++];
        }

        Value tid = e.threadId();
        Value lane = e.rem(tid, e.idx(32)), warp = e.div(tid, e.idx(32));
        Value row0 = e.add(e.mul(e.blockId(), e.idx(kGemvRowsPerBlock)),
                           e.mul(warp, e.idx(kGemvRowsPerWarp)));
        // Rows past n (a partial last block) compute row n - 1 again and
        // store nothing.
        Value rows[2] = {e.min(row0, e.idx(n - 1)),
                         e.min(e.add(row0, e.idx(1)), e.idx(n - 1))};

        // Quantization parameters of a row with one group: loaded once.
        Value rowScale[2], rowZero[2];
        auto zeroBias = [&](Value zero) {
          // 2^23 (+ 128: int8 codes have their sign bit flipped) + zero.
          return e.fadd(zero, e.f32(s.quant.bits == 8 ? 8388736.0 : 8388608.0));
        };
        if (hoistParams)
          for (int r = 0; r < 2; ++r) {
            Value sz = toF32(b, loadRaw(b, params, e.mul(rows[r], e.idx(2)), 2));
            rowScale[r] = extract(b, sz, 0);
            rowZero[r] = zeroBias(extract(b, sz, 1));
          }

        // The loads of step `t`: per chunk slot u and row r, the chunk's
        // weights (raw) and, with several groups, its (scale, zero).
        auto chunkOf = [&](Value t, int64_t u) {
          return e.add(e.add(e.mul(t, e.idx(stepChunks)), e.idx(u * 32)),
                       lane);
        };
        auto loadStep = [&](Value t) {
          SmallVector<Value> out;
          for (int64_t u = 0; u < unroll; ++u) {
            Value c = chunkOf(t, u);
            if (partial)
              c = e.min(c, e.idx(chunks - 1));
            for (int r = 0; r < 2; ++r) {
              if (quant) {
                Value at = e.add(e.mul(rows[r], e.idx(rowBytes)),
                                 e.mul(c, e.idx(16)));
                Value bytes = loadRaw(b, w, at, 16);
                out.push_back(vector::BitCastOp::create(
                    b, VectorType::get({4}, i32), bytes));
                if (!hoistParams) {
                  Value g = e.div(c, e.idx(chunksPerGroup));
                  Value pi = e.mul(e.add(e.mul(rows[r], e.idx(groups)), g),
                                   e.idx(2));
                  out.push_back(loadRaw(b, params, pi, 2));
                }
              } else {
                out.push_back(loadRaw(
                    b, w, e.add(e.mul(rows[r], e.idx(k)), e.mul(c, e.idx(epv))),
                    epv));
              }
            }
          }
          return out;
        };
        SmallVector<Value> first = loadStep(e.idx(0));

        // Stage x (normalized) in shared memory.
        Value inv; // 1 / rms, with a norm prologue
        auto swizzle = [&](Value slot) {
          Value hi = arith::AndIOp::create(
              b, arith::ShRUIOp::create(b, slot, e.idx(3)), e.idx(7));
          return arith::XOrIOp::create(b, slot, hi);
        };
        auto rsqrtMean = [&](Value sumSquares) {
          Value mean = e.fdiv(sumSquares, e.f32(double(k)));
          return e.fdiv(e.f32(1.0), e.sqrt(e.fadd(mean, e.f32(s.eps))));
        };
        if (shared) {
          Value xs = wg[0];
          Value ss = e.forRange(
              tid, e.idx(slots), e.idx(kGemvBlock), {e.f32(0)},
              [&](Value slot, ValueRange it) -> SmallVector<Value> {
                Value e0 = e.mul(slot, e.idx(4));
                SmallVector<Value> xv(4), gv(4);
                if (k % 4 == 0) {
                  Value at = e.min(e0, e.idx(k - 4));
                  Value valid = e.lt(e0, e.idx(k));
                  Value xl = toF32(b, loadRaw(b, x, at, 4));
                  Value gl = norm ? toF32(b, loadRaw(b, normW, at, 4)) : Value();
                  for (int j = 0; j < 4; ++j) {
                    xv[j] = e.select(valid, extract(b, xl, j), e.f32(0));
                    if (norm)
                      gv[j] = extract(b, gl, j);
                  }
                } else {
                  for (int j = 0; j < 4; ++j) {
                    Value ej = e.add(e0, e.idx(j));
                    Value at = e.min(ej, e.idx(k - 1));
                    xv[j] = e.select(e.lt(ej, e.idx(k)), e.load(x, at),
                                     e.f32(0));
                    if (norm)
                      gv[j] = e.load(normW, at);
                  }
                }
                Value acc = it[0];
                for (int j = 0; j < 4; ++j) {
                  if (norm) {
                    acc = e.fma(xv[j], xv[j], acc);
                    xv[j] = e.fmul(xv[j], gv[j]);
                  }
                }
                Value vec = vector::FromElementsOp::create(
                    b, VectorType::get({4}, f32), xv);
                vector::StoreOp::create(
                    b, vec, xs, ValueRange{e.mul(swizzle(slot), e.idx(4))},
                    /*nontemporal=*/false, llvm::MaybeAlign(16));
                return {acc};
              })[0];
          // The reduction's barriers also publish the staged x.
          if (norm)
            inv = rsqrtMean(e.blockSum(ss, wg[1], kGemvWarps));
          else
            e.barrier();
        }

        // x of chunk `c` as epv f32 values (normalized, with shared
        // staging); `last`: the (possibly partial) last step. `ss`
        // accumulates sum(x^2) without shared staging.
        auto xChunk = [&](Value c, bool last, Value &ss) {
          SmallVector<Value> xs;
          if (shared) {
            if (last && partial)
              c = e.min(c, e.idx(chunks)); // the zero chunk
            for (int64_t q = 0; q < slotsPerChunk; ++q) {
              Value slot = e.add(e.mul(c, e.idx(slotsPerChunk)), e.idx(q));
              Value v = vector::LoadOp::create(
                  b, VectorType::get({4}, f32), wg[0],
                  ValueRange{e.mul(swizzle(slot), e.idx(4))},
                  /*nontemporal=*/false, llvm::MaybeAlign(16));
              for (int j = 0; j < 4; ++j)
                xs.push_back(extract(b, v, j));
            }
            return xs;
          }
          bool mask = last && (partial || tail);
          Value c0 = e.mul(c, e.idx(epv));
          for (int64_t q = 0; q < epv; q += xw) {
            Value e0 = e.add(c0, e.idx(q));
            Value at = mask ? e.min(e0, e.idx(k - xw)) : e0;
            Value xv = toF32(b, loadRaw(b, x, at, xw));
            Value gv = norm ? toF32(b, loadRaw(b, normW, at, xw)) : Value();
            for (int64_t j = 0; j < xw; ++j) {
              Value v = extract(b, xv, j);
              if (mask)
                v = e.select(e.lt(e.add(e0, e.idx(j)), e.idx(k)), v,
                             e.f32(0));
              if (norm) {
                ss = e.fma(v, v, ss);
                v = e.fmul(v, extract(b, gv, j));
              }
              xs.push_back(v);
            }
          }
          return xs;
        };

        // Accumulators: 4 independent chains per row, then sum(x^2).
        auto computeStep = [&](Value t, ValueRange loaded, ValueRange accIn,
                               bool last) {
          SmallVector<Value> acc(accIn.begin(), accIn.end());
          Value ss = norm && !shared ? acc.back() : Value();
          unsigned li = 0;
          for (int64_t u = 0; u < unroll; ++u) {
            SmallVector<Value> xs = xChunk(chunkOf(t, u), last, ss);
            for (int r = 0; r < 2; ++r) {
              Value raw = loaded[li++];
              Value *racc = &acc[r * 4];
              if (!quant) {
                Value wv = toF32(b, raw);
                for (int64_t j = 0; j < epv; ++j)
                  racc[j % 4] = e.fma(xs[j], extract(b, wv, j), racc[j % 4]);
                continue;
              }
              Value scale = rowScale[r], zb = rowZero[r];
              if (!hoistParams) {
                Value sz = toF32(b, loaded[li++]);
                scale = extract(b, sz, 0);
                zb = zeroBias(extract(b, sz, 1));
              }
              Value magic = i32Const(b, 0x4B000000);
              SmallVector<Value> part(4, e.f32(0));
              auto dequant = [&](Value src, int64_t byte) {
                Value bits = prmt(b, src, magic, i32Const(b, 0x7440 | byte));
                return e.fsub(arith::BitcastOp::create(b, f32, bits), zb);
              };
              for (int64_t wi = 0; wi < 4; ++wi) {
                Value word = extract(b, raw, wi);
                if (s.quant.bits == 8) {
                  // Signed bytes, sign bit flipped: q + 128 in [0, 255].
                  Value flipped = arith::XOrIOp::create(
                      b, word, i32Const(b, int32_t(0x80808080u)));
                  for (int64_t byte = 0; byte < 4; ++byte) {
                    int64_t j = wi * 4 + byte;
                    part[j % 4] =
                        e.fma(xs[j], dequant(flipped, byte), part[j % 4]);
                  }
                } else {
                  // Element 8 wi + 2 byte in the low nibble of a byte,
                  // 8 wi + 2 byte + 1 in the high one.
                  Value mask = i32Const(b, 0x0F0F0F0F);
                  Value lo = arith::AndIOp::create(b, word, mask);
                  Value hi = arith::AndIOp::create(
                      b, arith::ShRUIOp::create(b, word, i32Const(b, 4)),
                      mask);
                  for (int64_t byte = 0; byte < 4; ++byte) {
                    int64_t j = wi * 8 + byte * 2;
                    part[j % 4] = e.fma(xs[j], dequant(lo, byte), part[j % 4]);
                    part[(j + 1) % 4] =
                        e.fma(xs[j + 1], dequant(hi, byte), part[(j + 1) % 4]);
                  }
                }
              }
              for (int j = 0; j < 4; ++j)
                racc[j] = e.fma(scale, part[j], racc[j]);
            }
          }
          if (ss)
            acc.back() = ss;
          return acc;
        };

        SmallVector<Value> acc(8, e.f32(0));
        if (norm && !shared)
          acc.push_back(e.f32(0));
        SmallVector<Value> cur = first;
        if (steps > 1) {
          SmallVector<Value> init(acc);
          init.append(cur.begin(), cur.end());
          size_t nacc = acc.size();
          SmallVector<Value> out = e.forRange(
              e.idx(0), e.idx(steps - 1), e.idx(1), init,
              [&](Value t, ValueRange it) -> SmallVector<Value> {
                SmallVector<Value> loaded = loadStep(e.add(t, e.idx(1)));
                SmallVector<Value> res =
                    computeStep(t, it.drop_front(nacc), it.take_front(nacc),
                                /*last=*/false);
                res.append(loaded.begin(), loaded.end());
                return res;
              });
          acc.assign(out.begin(), out.begin() + nacc);
          cur.assign(out.begin() + nacc, out.end());
        }
        acc = computeStep(e.idx(steps - 1), cur, acc, /*last=*/true);

        Value z[2];
        for (int r = 0; r < 2; ++r)
          z[r] = e.warpSum(e.fadd(e.fadd(acc[r * 4], acc[r * 4 + 1]),
                                  e.fadd(acc[r * 4 + 2], acc[r * 4 + 3])));
        if (norm && !shared)
          inv = rsqrtMean(e.warpSum(acc.back()));
        if (norm)
          for (int r = 0; r < 2; ++r)
            z[r] = e.fmul(z[r], inv);

        e.ifThen(e.eq(lane, e.idx(0)), [&] {
          if (bias)
            for (int r = 0; r < 2; ++r)
              z[r] = e.fadd(z[r], e.load(bias, rows[r]));
          if (s.qkv) {
            int64_t dh = s.headDim, half = dh / 2;
            int64_t qRows = s.heads * dh, kRows = s.kvHeads * dh;
            Value pos = e.i32ToIndex(
                memref::LoadOp::create(b, scalars, ValueRange{e.idx(kPos)}));
            Value inCache = e.lt(pos, e.idx(s.capacity));
            // The pair is (partner i, partner i + dh/2) of head `h`.
            auto rope = [&](Value rel, Value &h, Value &i, Value &lo,
                            Value &hi) {
              h = e.div(rel, e.idx(dh));
              i = e.div(e.rem(rel, e.idx(dh)), e.idx(2));
              Value freqs = memref::GetGlobalOp::create(
                  b, flat(half, f32), table);
              // As RowKernels' rope: the f32 position times the frequency.
              Value angle = e.fmul(e.indexToF32(pos),
                                   memref::LoadOp::create(b, freqs,
                                                          ValueRange{i}));
              auto [sin, cos] = e.sinCos(angle);
              lo = e.fsub(e.fmul(z[0], cos), e.fmul(z[1], sin));
              hi = e.fadd(e.fmul(z[1], cos), e.fmul(z[0], sin));
            };
            auto cacheBase = [&](Value h) {
              return e.mul(e.add(e.mul(h, e.idx(s.capacity)), pos),
                           e.idx(dh));
            };
            e.ifThenElse(
                e.lt(row0, e.idx(qRows)),
                [&] {
                  Value h, i, lo, hi;
                  rope(row0, h, i, lo, hi);
                  Value at = e.add(e.mul(h, e.idx(dh)), i);
                  e.store(y, at, lo);
                  e.store(y, e.add(at, e.idx(half)), hi);
                },
                [&] {
                  e.ifThenElse(
                      e.lt(row0, e.idx(qRows + kRows)),
                      [&] {
                        e.ifThen(inCache, [&] {
                          Value h, i, lo, hi;
                          rope(e.sub(row0, e.idx(qRows)), h, i, lo, hi);
                          Value at = e.add(cacheBase(h), i);
                          e.store(keyCache, at, lo);
                          e.store(keyCache, e.add(at, e.idx(half)), hi);
                        });
                      },
                      [&] {
                        e.ifThen(e.land(inCache, e.lt(row0, e.idx(n))), [&] {
                          Value rel = e.sub(row0, e.idx(qRows + kRows));
                          Value at = e.add(cacheBase(e.div(rel, e.idx(dh))),
                                           e.rem(rel, e.idx(dh)));
                          e.store(valueCache, at, z[0]);
                          e.store(valueCache, e.add(at, e.idx(1)), z[1]);
                        });
                      });
                });
            return;
          }
          if (s.swiglu) {
            e.ifThen(e.lt(row0, e.idx(n)), [&] {
              // silu(g) = g / (1 + e^-g), as the elementwise kernel.
              Value g = z[0];
              Value silu = e.fdiv(
                  g, e.fadd(e.f32(1.0), e.exp(e.fsub(e.f32(0), g))));
              Value v = e.fmul(silu, z[1]);
              Value at = e.div(row0, e.idx(2));
              if (residual)
                v = e.fadd(v, e.load(residual, at));
              e.store(y, at, v);
            });
            return;
          }
          for (int r = 0; r < 2; ++r) {
            Value row = e.add(row0, e.idx(r));
            e.ifThen(e.lt(row, e.idx(n)), [&] {
              Value v = z[r];
              if (residual)
                v = e.fadd(v, e.load(residual, row));
              e.store(y, row, v);
            });
          }
        });
      });
  // Two blocks per SM at least: ptxas keeps the registers at 128 (the
  // prefetched step doubles the loads in flight).
  fn->setAttr("nvvm.minctasm",
              IntegerAttr::get(IntegerType::get(ctx, 32), 2));
  if (shared)
    fn.setWorkgroupAttributionAttr(0, LLVM::LLVMDialect::getAlignAttrName(),
                                   IntegerAttr::get(IntegerType::get(ctx, 64),
                                                    16));
  return {fn,
          {(n + kGemvRowsPerBlock - 1) / kGemvRowsPerBlock, 1, 1},
          {kGemvBlock, 1, 1}};
}

//===----------------------------------------------------------------------===//
// TEMPORARY (helper/gpu): a stand-in for KernelLibrary::fusedGemm until the
// real prefill GEMM (lib/Conversion/TfmToGPU/GemmKernels.cpp) is merged.
// DELETE THIS FUNCTION WHEN MERGING GemmKernels.cpp. It builds nothing, so
// fused or quantized linears with more than one row (prefill) are refused
// by tfm-lower-to-gpu with an error until then.
//===----------------------------------------------------------------------===//
KernelLaunch KernelLibrary::fusedGemm(const LinearSpec &) { return {}; }
