//===- LinearSignature.cpp - a linear kernel's name and parameters --------===//

#include "LinearSignature.h"

#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

SmallVector<Type> monocard::gpu_kernels::linearArgTypes(MLIRContext *ctx,
                                                        const LinearSpec &s,
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

std::string monocard::gpu_kernels::floatName(double v) {
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

std::string monocard::gpu_kernels::linearName(StringRef prefix,
                                              const LinearSpec &s,
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
    name +=
        llvm::formatv("_qkv_h{0}_kv{1}_d{2}_s{3}_{4}_{5}", s.heads, s.kvHeads,
                      s.headDim, s.capacity, tableHash, typeName(s.cacheT))
            .str();
  return name + "_" + typeName(s.yT);
}
