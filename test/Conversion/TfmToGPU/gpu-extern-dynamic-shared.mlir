// RUN: monocard-opt %s --pass-pipeline='builtin.module(gpu.module(gpu-extern-dynamic-shared))' | FileCheck %s
// RUN: monocard-opt %s --pass-pipeline='builtin.module(gpu.module(gpu-extern-dynamic-shared))' -verify-diagnostics -o /dev/null

// The zero-length shared array convert-gpu-to-nvvm makes for
// gpu.dynamic_shared_memory becomes an external declaration (PTX's
// `.extern .shared .b8 name[]`). Everything else stays as it was: a static
// shared array, a zero-length global in another address space, and one with
// an initializer.
// CHECK-LABEL: gpu.module @kernels
// CHECK-DAG: llvm.mlir.global external @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64, dso_local} : !llvm.array<0 x i8>
// CHECK-DAG: llvm.mlir.global internal @tile() {addr_space = 3 : i32, alignment = 16 : i64, dso_local} : !llvm.array<64 x f32>
// CHECK-DAG: llvm.mlir.global internal @global_zero() {addr_space = 1 : i32, dso_local} : !llvm.array<0 x i8>
// CHECK-DAG: llvm.mlir.global internal @initialized(dense<> : tensor<0xi8>) {addr_space = 3 : i32, dso_local} : !llvm.array<0 x i8>
gpu.module @kernels {
  llvm.mlir.global internal @__dynamic_shmem__0() {addr_space = 3 : i32, alignment = 16 : i64, dso_local} : !llvm.array<0 x i8>
  llvm.mlir.global internal @tile() {addr_space = 3 : i32, alignment = 16 : i64, dso_local} : !llvm.array<64 x f32>
  llvm.mlir.global internal @global_zero() {addr_space = 1 : i32, dso_local} : !llvm.array<0 x i8>
  llvm.mlir.global internal @initialized(dense<> : tensor<0xi8>) {addr_space = 3 : i32, dso_local} : !llvm.array<0 x i8>
}
