// RUN: monocard-opt %s -canonicalize -split-input-file | FileCheck %s

// CHECK-LABEL: func.func @add_zero
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: return %[[X]]
func.func @add_zero(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %z = arith.constant dense<0.0> : tensor<4x8xf32>
  %y = tfm.add %z, %x : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// A non-zero constant must stay.
// CHECK-LABEL: func.func @add_nonzero
// CHECK: tfm.add
func.func @add_nonzero(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %z = arith.constant dense<0.5> : tensor<4x8xf32>
  %y = tfm.add %x, %z : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @mul_one
// CHECK-SAME: (%[[X:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: return %[[X]]
func.func @mul_one(%x: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %one = arith.constant dense<1.0> : tensor<4x8xf32>
  %y = tfm.mul %x, %one : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @swiglu_form
// CHECK-SAME: (%[[G:.*]]: tensor<4x8xf32>, %[[U:.*]]: tensor<4x8xf32>)
// CHECK-NEXT: %[[S:.*]] = tfm.swiglu %[[G]], %[[U]] : tensor<4x8xf32>
// CHECK-NEXT: return %[[S]]
func.func @swiglu_form(%g: tensor<4x8xf32>, %u: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %s = tfm.silu %g : tensor<4x8xf32>
  %y = tfm.mul %u, %s : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// mul of two non-silu values is not a swiglu.
// CHECK-LABEL: func.func @plain_mul
// CHECK: tfm.mul
// CHECK-NOT: tfm.swiglu
func.func @plain_mul(%g: tensor<4x8xf32>, %u: tensor<4x8xf32>) -> tensor<4x8xf32> {
  %y = tfm.mul %u, %g : tensor<4x8xf32>
  return %y : tensor<4x8xf32>
}

// -----

// CHECK-LABEL: func.func @zero_bias
// CHECK: tfm.linear %{{.*}}, %{{.*}} : tensor<2x8xf32>, tensor<4x8xf32> -> tensor<2x4xf32>
func.func @zero_bias(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = tfm.param @w : tensor<4x8xf32>
  %b = arith.constant dense<0.0> : tensor<4xf32>
  %y = tfm.linear %x, %w, %b : tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// A real bias stays.
// CHECK-LABEL: func.func @real_bias
// CHECK: tfm.linear %{{.*}}, %{{.*}}, %{{.*}} : tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32>
func.func @real_bias(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %w = tfm.param @w : tensor<4x8xf32>
  %b = tfm.param @b : tensor<4xf32>
  %y = tfm.linear %x, %w, %b : tensor<2x8xf32>, tensor<4x8xf32>, tensor<4xf32> -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// CHECK-LABEL: func.func @argmax_softmax
// CHECK-SAME: (%[[X:.*]]: tensor<2x10xf32>)
// CHECK-NEXT: %[[A:.*]] = tfm.argmax %[[X]]
// CHECK-NEXT: return %[[A]]
func.func @argmax_softmax(%x: tensor<2x10xf32>) -> tensor<2xi32> {
  %s = tfm.softmax %x : tensor<2x10xf32>
  %a = tfm.argmax %s : tensor<2x10xf32> -> tensor<2xi32>
  return %a : tensor<2xi32>
}
