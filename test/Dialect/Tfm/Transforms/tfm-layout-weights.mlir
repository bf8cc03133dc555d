// RUN: monocard-opt %s -split-input-file --tfm-layout-weights | FileCheck %s
// RUN: monocard-opt %s -split-input-file --tfm-layout-weights=alignment=256 | FileCheck %s --check-prefix=A256

// Offsets follow first use, 64-byte aligned; a param used in two functions
// (and twice in one) is packed once.
// CHECK: tfm.weights = {bytes = 704 : i64, recipe = [
// CHECK-SAME: {dtype = "f32", offset = 0 : i64, param = "embed", shape = [10, 4], sources = ["embed"], transform = "convert"},
// CHECK-SAME: {dtype = "f32", offset = 192 : i64, param = "norm", shape = [4], sources = ["norm"], transform = "convert"},
// CHECK-SAME: {dtype = "bf16", offset = 256 : i64, param = "head", shape = [7, 32], sources = ["head"], transform = "convert"}]}
// A256: tfm.weights = {bytes = 1024 : i64, recipe = [{{.*}}offset = 0 : i64{{.*}}offset = 256 : i64{{.*}}offset = 512 : i64
module {
  func.func @a() -> (tensor<10x4xf32>, tensor<4xf32>) {
    %e = tfm.param @embed : tensor<10x4xf32>
    %n = tfm.param @norm : tensor<4xf32>
    %e2 = tfm.param @embed : tensor<10x4xf32>
    return %e, %n : tensor<10x4xf32>, tensor<4xf32>
  }
  func.func @b() -> (tensor<7x32xbf16>, tensor<10x4xf32>) {
    %h = tfm.param @head : tensor<7x32xbf16>
    %e = tfm.param @embed : tensor<10x4xf32>
    return %h, %e : tensor<7x32xbf16>, tensor<10x4xf32>
  }
}
