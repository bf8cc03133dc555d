// RUN: monocard-opt %s -split-input-file --tfm-select-parallel-loops=min-work=4096 | FileCheck %s

// A GEMV-sized loop (64 x 128 = 8192 iterations) stays parallel; a 64-wide
// elementwise loop becomes a plain loop.
// CHECK-LABEL: func.func @mixed
// CHECK: scf.parallel (%{{.*}}) = (%c0) to (%c64) step (%c1)
// CHECK:   scf.for %{{.*}} = %c0 to %c128 step %c1
// CHECK: scf.for %[[I:.*]] = %c0 to %c64 step %c1
// CHECK-NEXT: memref.load %{{.*}}[%[[I]]]
// CHECK-NOT: scf.parallel
func.func @mixed(%w: memref<64x128xf32>, %x: memref<128xf32>, %y: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c64 = arith.constant 64 : index
  %c128 = arith.constant 128 : index
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    scf.for %k = %c0 to %c128 step %c1 {
      %a = memref.load %w[%i, %k] : memref<64x128xf32>
      %b = memref.load %x[%k] : memref<128xf32>
      %acc = memref.load %y[%i] : memref<64xf32>
      %p = arith.mulf %a, %b : f32
      %s = arith.addf %acc, %p : f32
      memref.store %s, %y[%i] : memref<64xf32>
    }
  }
  scf.parallel (%i) = (%c0) to (%c64) step (%c1) {
    %v = memref.load %y[%i] : memref<64xf32>
    %d = arith.addf %v, %v : f32
    memref.store %d, %y[%i] : memref<64xf32>
  }
  return
}

// -----

// Multi-dimensional: 2 x 3 = 6 iterations become two nested loops.
// CHECK-LABEL: func.func @two_dims
// CHECK: scf.for %[[A:.*]] = %c0 to %c2 step %c1
// CHECK-NEXT: scf.for %[[B:.*]] = %c0 to %c3 step %c1
// CHECK-NEXT: memref.store %{{.*}}, %{{.*}}[%[[A]], %[[B]]]
func.func @two_dims(%m: memref<2x3xf32>, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c3 = arith.constant 3 : index
  scf.parallel (%i, %j) = (%c0, %c0) to (%c2, %c3) step (%c1, %c1) {
    memref.store %v, %m[%i, %j] : memref<2x3xf32>
  }
  return
}

// -----

// A dynamic bound counts as large: the loop stays parallel.
// CHECK-LABEL: func.func @dynamic
// CHECK: scf.parallel
func.func @dynamic(%m: memref<?xf32>, %n: index, %v: f32) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  scf.parallel (%i) = (%c0) to (%n) step (%c1) {
    memref.store %v, %m[%i] : memref<?xf32>
  }
  return
}

// -----

// Bounds spanning INT64_MIN..INT64_MAX once overflowed the trip count
// (undefined behaviour); a span that does not fit counts as large.
// CHECK-LABEL: func.func @huge_span
// CHECK: scf.parallel
func.func @huge_span(%y: memref<64xf32>, %v: f32) {
  %lo = arith.constant -9223372036854775807 : index
  %hi = arith.constant 9223372036854775807 : index
  %c1 = arith.constant 1 : index
  %c0 = arith.constant 0 : index
  scf.parallel (%i) = (%lo) to (%hi) step (%c1) {
    memref.store %v, %y[%c0] : memref<64xf32>
  }
  return
}
