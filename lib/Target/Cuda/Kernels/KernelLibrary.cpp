//===- KernelLibrary.cpp - the kernel module and kernel creation ----------===//

#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "llvm/ADT/Hashing.h"
#include "llvm/Support/FormatVariadic.h"

using namespace mlir;
using namespace monocard::gpu_kernels;

static constexpr llvm::StringLiteral kKernelModule = "monocard_kernels";

KernelLibrary::KernelLibrary(ModuleOp module, KernelConfig config)
    : module(module), config(std::move(config)) {
  for (auto m : module.getOps<gpu::GPUModuleOp>())
    if (m.getName() == kKernelModule)
      kernels = m;
  if (!kernels) {
    OpBuilder b(module.getContext());
    b.setInsertionPointToStart(module.getBody());
    kernels = gpu::GPUModuleOp::create(b, module.getLoc(), kKernelModule);
  }
  module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                  UnitAttr::get(module.getContext()));
}

MemRefType KernelLibrary::flat(int64_t n, Type t) {
  return MemRefType::get({n}, t);
}

MemRefType KernelLibrary::scalarsType() {
  return flat(kNumScalars, IntegerType::get(module.getContext(), 32));
}

gpu::GPUFuncOp KernelLibrary::getOrBuild(StringRef name, ArrayRef<Type> args,
                                         ArrayRef<int64_t> workgroupF32,
                                         int64_t blockSize, const Body &body,
                                         ArrayRef<Type> workgroupOther) {
  if (auto existing = kernels.lookupSymbol<gpu::GPUFuncOp>(name))
    return existing;
  MLIRContext *ctx = module.getContext();
  auto wgSpace =
      gpu::AddressSpaceAttr::get(ctx, gpu::GPUDialect::getWorkgroupAddressSpace());
  SmallVector<Type> workgroup;
  for (int64_t n : workgroupF32)
    workgroup.push_back(
        MemRefType::get({n}, Float32Type::get(ctx), MemRefLayoutAttrInterface{},
                        wgSpace));
  for (Type t : workgroupOther) {
    auto m = cast<MemRefType>(t);
    workgroup.push_back(MemRefType::get(m.getShape(), m.getElementType(),
                                        MemRefLayoutAttrInterface{}, wgSpace));
  }
  ImplicitLocOpBuilder b(kernels.getLoc(), ctx);
  b.setInsertionPointToEnd(kernels.getBody());
  auto fn = gpu::GPUFuncOp::create(b, name, FunctionType::get(ctx, args, {}),
                                   workgroup, TypeRange{});
  fn->setAttr(gpu::GPUDialect::getKernelFuncAttrName(), b.getUnitAttr());
  fn.setKnownBlockSizeAttr(
      b.getDenseI32ArrayAttr({int32_t(blockSize), 1, 1}));
  Block &entry = fn.getBody().front();
  b.setInsertionPointToStart(&entry);
  KernelEmitter e(b);
  // The entry block's arguments are the parameters followed by the
  // workgroup buffers: hand the body the parameters alone.
  body(e, fn.getArguments().take_front(args.size()),
       fn.getWorkgroupAttributions());
  gpu::ReturnOp::create(b);
  return fn;
}

std::string KernelLibrary::constantTable(StringRef prefix,
                                         ArrayRef<float> values) {
  // Hash the bit patterns: equal tables share one global.
  llvm::hash_code h = llvm::hash_value(
      StringRef(reinterpret_cast<const char *>(values.data()),
                values.size() * sizeof(float)));
  std::string name = llvm::formatv("{0}_{1:x-}", prefix, size_t(h)).str();
  if (kernels.lookupSymbol(name))
    return name;
  MLIRContext *ctx = module.getContext();
  OpBuilder b(ctx);
  b.setInsertionPointToStart(kernels.getBody());
  auto type = MemRefType::get({int64_t(values.size())}, Float32Type::get(ctx));
  auto tensorType =
      RankedTensorType::get({int64_t(values.size())}, Float32Type::get(ctx));
  memref::GlobalOp::create(b, kernels.getLoc(), name,
                           b.getStringAttr("private"), type,
                           DenseElementsAttr::get(tensorType, values),
                           /*constant=*/true, /*alignment=*/IntegerAttr());
  return name;
}
