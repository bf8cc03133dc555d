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

// -----

// A merged param lists its sources and row pairing; a quantized one has two
// planes: 24 rows of 16 i4 codes padded to 16 bytes (384 bytes), then the
// (scale, zero) f16 pairs of 2 groups per row at the next 64-byte boundary.
// CHECK: tfm.weights = {bytes = 960 : i64, recipe = [
// CHECK-SAME: {dtype = "i4", offset = 0 : i64, pair_rows = [0, 24, 24], param = "w", quant = {bits = 4 : i64, group = 8 : i64, row_bytes = 16 : i64, scale_dtype = "f16", scales_offset = 384 : i64}, shape = [24, 16], sources = ["g", "u"], transform = "quantize"},
// CHECK-SAME: {dtype = "i8", offset = 576 : i64, param = "w8", quant = {bits = 8 : i64, group = 16 : i64, row_bytes = 16 : i64, scale_dtype = "f32", scales_offset = 832 : i64}, shape = [16, 16], sources = ["w8"], transform = "quantize"}]}
module {
  func.func @q() -> (!tfm.qweight<24x16xi4, group = 8, scale = f16>, !tfm.qweight<16x16xi8, group = 16, scale = f32>) {
    %w = tfm.param @w {sources = ["g", "u"], pair_rows = array<i64: 0, 24, 24>} : !tfm.qweight<24x16xi4, group = 8, scale = f16>
    %w8 = tfm.param @w8 : !tfm.qweight<16x16xi8, group = 16, scale = f32>
    return %w, %w8 : !tfm.qweight<24x16xi4, group = 8, scale = f16>, !tfm.qweight<16x16xi8, group = 16, scale = f32>
  }
}

// -----

// Concatenation without quantization.
// CHECK: {dtype = "f16", offset = 0 : i64, pair_rows = [0, 12, 4], param = "a+b", shape = [12, 8], sources = ["a", "b"], transform = "concat"}
module {
  func.func @c() -> tensor<12x8xf16> {
    %w = tfm.param @"a+b" {sources = ["a", "b"], pair_rows = array<i64: 0, 12, 4>} : tensor<12x8xf16>
    return %w : tensor<12x8xf16>
  }
}
