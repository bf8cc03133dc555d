// RUN: monocard-opt %s --tfm-plan-memory | FileCheck %s
// RUN: monocard-opt %s --tfm-plan-memory=alignment=16 | FileCheck %s --check-prefix=A16

// Positions count the ops of the function's top-level block from 0. A buffer
// is live from the first to the last op that touches it or an alias of it;
// sizes are rounded up to the alignment (64 unless told).

#id = affine_map<(d0) -> (d0)>

// A chain a -> b -> c: c reuses a's bytes, b sits beside them.
//   a [1, 3] 64 B   b [3, 5] 64 B   c [5, 6] 64 B
// CHECK-LABEL: func.func @chain(
// CHECK-SAME:    %[[ARENA:.*]]: memref<128xi8> {tfm.abi = "arena"}, %[[IN:.*]]: memref<16xf32>, %[[OUT:.*]]: memref<16xf32>)
// CHECK-SAME:    attributes {tfm.memplan = {arena_bytes = 128 : i64, buffers = [
// CHECK-SAME:      {end = 3 : i64, offset = 0 : i64, size = 64 : i64, start = 1 : i64},
// CHECK-SAME:      {end = 5 : i64, offset = 64 : i64, size = 64 : i64, start = 3 : i64},
// CHECK-SAME:      {end = 6 : i64, offset = 0 : i64, size = 64 : i64, start = 5 : i64}],
// CHECK-SAME:      lower_bound = 128 : i64, naive_bytes = 192 : i64}}
// CHECK-NOT:   memref.alloc
// CHECK:       %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:  %[[A:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<128xi8> to memref<16xf32>
// CHECK-NEXT:  memref.copy %[[IN]], %[[A]]
// CHECK-NEXT:  %[[C64:.*]] = arith.constant 64 : index
// CHECK-NEXT:  %[[B:.*]] = memref.view %[[ARENA]][%[[C64]]][] : memref<128xi8> to memref<16xf32>
// CHECK-NEXT:  linalg.generic {{.*}} ins(%[[A]] : memref<16xf32>) outs(%[[B]] : memref<16xf32>)
// CHECK:       %[[C0B:.*]] = arith.constant 0 : index
// CHECK-NEXT:  %[[C:.*]] = memref.view %[[ARENA]][%[[C0B]]][] : memref<128xi8> to memref<16xf32>
// CHECK-NEXT:  linalg.generic {{.*}} ins(%[[B]] : memref<16xf32>) outs(%[[C]] : memref<16xf32>)
// CHECK:       memref.copy %[[C]], %[[OUT]]
// CHECK-NOT:   memref.dealloc
// CHECK:       return
// A16-LABEL: func.func @chain(
// A16-SAME:    memref<128xi8>
func.func @chain(%arena: memref<?xi8> {tfm.abi = "arena"},
                 %in: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>                              // 0
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>            // 1
  %b = memref.alloc() : memref<16xf32>                              // 2
  linalg.generic {indexing_maps = [#id, #id],
                  iterator_types = ["parallel"]}
      ins(%a : memref<16xf32>) outs(%b : memref<16xf32>) {          // 3
  ^bb0(%x: f32, %y: f32):
    %e = math.exp %x : f32
    linalg.yield %e : f32
  }
  %c = memref.alloc() : memref<16xf32>                              // 4
  linalg.generic {indexing_maps = [#id, #id],
                  iterator_types = ["parallel"]}
      ins(%b : memref<16xf32>) outs(%c : memref<16xf32>) {          // 5
  ^bb0(%x: f32, %y: f32):
    %n = arith.negf %x : f32
    linalg.yield %n : f32
  }
  memref.copy %c, %out : memref<16xf32> to memref<16xf32>           // 6
  memref.dealloc %a : memref<16xf32>
  memref.dealloc %b : memref<16xf32>
  memref.dealloc %c : memref<16xf32>
  return
}

// Two buffers live together sit side by side; their sum goes above both.
//   a [2, 6]   b [4, 6]   c [6, 7], 64 B each: nothing can share.
// CHECK-LABEL: func.func @side_by_side(
// CHECK-SAME:    memref<192xi8> {tfm.abi = "arena"}
// CHECK-SAME:    tfm.memplan = {arena_bytes = 192 : i64, buffers = [
// CHECK-SAME:      {end = 6 : i64, offset = 0 : i64, size = 64 : i64, start = 2 : i64},
// CHECK-SAME:      {end = 6 : i64, offset = 64 : i64, size = 64 : i64, start = 4 : i64},
// CHECK-SAME:      {end = 7 : i64, offset = 128 : i64, size = 64 : i64, start = 6 : i64}],
// CHECK-SAME:      lower_bound = 192 : i64, naive_bytes = 192 : i64}}
// CHECK-COUNT-3: memref.view
func.func @side_by_side(%arena: memref<?xi8> {tfm.abi = "arena"},
                        %out: memref<16xf32>) {
  %one = arith.constant 1.0 : f32                                   // 0
  %a = memref.alloc() : memref<16xf32>                              // 1
  linalg.fill ins(%one : f32) outs(%a : memref<16xf32>)             // 2
  %b = memref.alloc() : memref<16xf32>                              // 3
  linalg.fill ins(%one : f32) outs(%b : memref<16xf32>)             // 4
  %c = memref.alloc() : memref<16xf32>                              // 5
  linalg.generic {indexing_maps = [#id, #id, #id],
                  iterator_types = ["parallel"]}
      ins(%a, %b : memref<16xf32>, memref<16xf32>)
      outs(%c : memref<16xf32>) {                                   // 6
  ^bb0(%x: f32, %y: f32, %z: f32):
    %s = arith.addf %x, %y : f32
    linalg.yield %s : f32
  }
  memref.copy %c, %out : memref<16xf32> to memref<16xf32>           // 7
  return
}

// A buffer stays live as long as a view of it does: %a's last direct use is
// the collapse_shape at 3, but %flat is read at 8, so %b cannot take %a's
// bytes; %c (after %b died) takes %b's.
//   a [2, 8]   b [5, 6]   c [8, 9], 256 B each
// CHECK-LABEL: func.func @alias_keeps_space(
// CHECK-SAME:    %[[ARENA:.*]]: memref<512xi8> {tfm.abi = "arena"}
// CHECK-SAME:    tfm.memplan = {arena_bytes = 512 : i64, buffers = [
// CHECK-SAME:      {end = 8 : i64, offset = 0 : i64, size = 256 : i64, start = 2 : i64},
// CHECK-SAME:      {end = 6 : i64, offset = 256 : i64, size = 256 : i64, start = 5 : i64},
// CHECK-SAME:      {end = 9 : i64, offset = 256 : i64, size = 256 : i64, start = 8 : i64}],
// CHECK-SAME:      lower_bound = 512 : i64, naive_bytes = 768 : i64}}
// CHECK:       %[[A:.*]] = memref.view %[[ARENA]][%{{.*}}][] : memref<512xi8> to memref<4x16xf32>
// CHECK:       %[[FLAT:.*]] = memref.collapse_shape %[[A]] {{\[}}[0, 1]]
// CHECK:       %[[C256:.*]] = arith.constant 256 : index
// CHECK-NEXT:  %[[B:.*]] = memref.view %[[ARENA]][%[[C256]]][] : memref<512xi8> to memref<64xf32>
// CHECK:       %[[C256B:.*]] = arith.constant 256 : index
// CHECK-NEXT:  %[[C:.*]] = memref.view %[[ARENA]][%[[C256B]]][] : memref<512xi8> to memref<64xf32>
// CHECK-NEXT:  memref.copy %[[FLAT]], %[[C]]
func.func @alias_keeps_space(%arena: memref<?xi8> {tfm.abi = "arena"},
                             %out0: memref<64xf32>, %out1: memref<64xf32>) {
  %zero = arith.constant 0.0 : f32                                  // 0
  %a = memref.alloc() : memref<4x16xf32>                            // 1
  linalg.fill ins(%zero : f32) outs(%a : memref<4x16xf32>)          // 2
  %flat = memref.collapse_shape %a [[0, 1]]
      : memref<4x16xf32> into memref<64xf32>                        // 3
  %b = memref.alloc() : memref<64xf32>                              // 4
  linalg.fill ins(%zero : f32) outs(%b : memref<64xf32>)            // 5
  memref.copy %b, %out0 : memref<64xf32> to memref<64xf32>          // 6
  %c = memref.alloc() : memref<64xf32>                              // 7
  memref.copy %flat, %c : memref<64xf32> to memref<64xf32>          // 8
  memref.copy %c, %out1 : memref<64xf32> to memref<64xf32>          // 9
  return
}

// A use inside a loop counts at the loop's position; so does a subview used
// there. %c reuses %a's bytes once the loop is done.
//   a [4, 8]   b [7, 10]   c [10, 11], 64 B each
// CHECK-LABEL: func.func @subview_in_loop(
// CHECK-SAME:    memref<128xi8> {tfm.abi = "arena"}
// CHECK-SAME:    tfm.memplan = {arena_bytes = 128 : i64, buffers = [
// CHECK-SAME:      {end = 8 : i64, offset = 0 : i64, size = 64 : i64, start = 4 : i64},
// CHECK-SAME:      {end = 10 : i64, offset = 64 : i64, size = 64 : i64, start = 7 : i64},
// CHECK-SAME:      {end = 11 : i64, offset = 0 : i64, size = 64 : i64, start = 10 : i64}],
// CHECK-SAME:      lower_bound = 128 : i64, naive_bytes = 192 : i64}}
// CHECK:       memref.subview
// CHECK:       scf.for
func.func @subview_in_loop(%arena: memref<?xi8> {tfm.abi = "arena"},
                           %out: memref<16xf32>) {
  %c0 = arith.constant 0 : index                                    // 0
  %c1 = arith.constant 1 : index                                    // 1
  %c8 = arith.constant 8 : index                                    // 2
  %a = memref.alloc() : memref<16xf32>                              // 3
  memref.copy %out, %a : memref<16xf32> to memref<16xf32>           // 4
  %s = memref.subview %a[4] [8] [1]
      : memref<16xf32> to memref<8xf32, strided<[1], offset: 4>>    // 5
  %b = memref.alloc() : memref<16xf32>                              // 6
  memref.copy %out, %b : memref<16xf32> to memref<16xf32>           // 7
  scf.for %i = %c0 to %c8 step %c1 {                                // 8
    %x = memref.load %s[%i] : memref<8xf32, strided<[1], offset: 4>>
    memref.store %x, %b[%i] : memref<16xf32>
  }
  %c = memref.alloc() : memref<16xf32>                              // 9
  memref.copy %b, %c : memref<16xf32> to memref<16xf32>             // 10
  memref.copy %c, %out : memref<16xf32> to memref<16xf32>           // 11
  return
}

// Best fit: differently sized buffers, allocated up front (a buffer's
// interval starts at its first use, not at its alloc). Placed largest first:
//   p 1024 B [5, 9]  -> 0
//   q  512 B [6, 14] -> 1024 (above p)
//   r  256 B [11, 14]-> 0    (p's freed bytes)
//   w  128 B [7, 9]  -> 1536 (above p and q)
//   u  128 B [8, 14] -> 1664 (above w)
//   s   64 B [13, 14]: among q, r and u the gaps are [256, 1024) (768 B) and
//       [1536, 1664) (128 B, w's freed bytes); best fit takes the smaller,
//       1536, where first fit would take 256.
// The lower bound is p + q + w + u at 8..9 = 1792, which the plan meets.
// CHECK-LABEL: func.func @best_fit(
// CHECK-SAME:    memref<1792xi8> {tfm.abi = "arena"}
// CHECK-SAME:    tfm.memplan = {arena_bytes = 1792 : i64, buffers = [
// CHECK-SAME:      {end = 9 : i64, offset = 0 : i64, size = 1024 : i64, start = 5 : i64},
// CHECK-SAME:      {end = 14 : i64, offset = 1024 : i64, size = 512 : i64, start = 6 : i64},
// CHECK-SAME:      {end = 9 : i64, offset = 1536 : i64, size = 128 : i64, start = 7 : i64},
// CHECK-SAME:      {end = 14 : i64, offset = 1664 : i64, size = 128 : i64, start = 8 : i64},
// CHECK-SAME:      {end = 14 : i64, offset = 0 : i64, size = 256 : i64, start = 11 : i64},
// CHECK-SAME:      {end = 14 : i64, offset = 1536 : i64, size = 64 : i64, start = 13 : i64}],
// CHECK-SAME:      lower_bound = 1792 : i64, naive_bytes = 2112 : i64}}
// CHECK-COUNT-4: arith.constant {{[0-9]+}} : index
// CHECK:       arith.constant 0 : index
// CHECK:       arith.constant 1536 : index
// A16-LABEL: func.func @best_fit(
// A16-SAME:    memref<1792xi8>
func.func private @consume2(memref<256xf32>, memref<32xf32>)
func.func private @consume4(memref<128xf32>, memref<32xf32>, memref<64xf32>,
                            memref<16xf32>)
func.func @best_fit(%arena: memref<?xi8> {tfm.abi = "arena"}) {
  %zero = arith.constant 0.0 : f32                                  // 0
  %p = memref.alloc() : memref<256xf32>                             // 1
  %q = memref.alloc() : memref<128xf32>                             // 2
  %w = memref.alloc() : memref<32xf32>                              // 3
  %u = memref.alloc() : memref<32xf32>                              // 4
  linalg.fill ins(%zero : f32) outs(%p : memref<256xf32>)           // 5
  linalg.fill ins(%zero : f32) outs(%q : memref<128xf32>)           // 6
  linalg.fill ins(%zero : f32) outs(%w : memref<32xf32>)            // 7
  linalg.fill ins(%zero : f32) outs(%u : memref<32xf32>)            // 8
  func.call @consume2(%p, %w) : (memref<256xf32>, memref<32xf32>) -> () // 9
  %r = memref.alloc() : memref<64xf32>                              // 10
  linalg.fill ins(%zero : f32) outs(%r : memref<64xf32>)            // 11
  %s = memref.alloc() : memref<16xf32>                              // 12
  linalg.fill ins(%zero : f32) outs(%s : memref<16xf32>)            // 13
  func.call @consume4(%q, %u, %r, %s)
      : (memref<128xf32>, memref<32xf32>, memref<64xf32>, memref<16xf32>) -> () // 14
  return
}

// Element sizes and rounding: i8 x 3 = 3, f16 x 5 = 10, i1 x 9 = 9,
// index x 2 = 16, bf16 x 40 = 80 bytes, all live together at 7; %f is never
// used (live at its alloc only, so it shares bytes with anything) and the
// alloca is left alone.
// 64-byte alignment: 64, 64, 64, 64, 128 (+ 64 for %f) -> 384 bytes.
// CHECK-LABEL: func.func @element_sizes(
// CHECK-SAME:    memref<384xi8> {tfm.abi = "arena"}
// CHECK-SAME:    tfm.memplan = {arena_bytes = 384 : i64, buffers = [
// CHECK-SAME:      {end = 7 : i64, offset = 128 : i64, size = 64 : i64, start = 7 : i64},
// CHECK-SAME:      {end = 7 : i64, offset = 192 : i64, size = 64 : i64, start = 7 : i64},
// CHECK-SAME:      {end = 7 : i64, offset = 256 : i64, size = 64 : i64, start = 7 : i64},
// CHECK-SAME:      {end = 7 : i64, offset = 320 : i64, size = 64 : i64, start = 7 : i64},
// CHECK-SAME:      {end = 7 : i64, offset = 0 : i64, size = 128 : i64, start = 7 : i64},
// CHECK-SAME:      {end = 5 : i64, offset = 0 : i64, size = 64 : i64, start = 5 : i64}],
// CHECK-SAME:      lower_bound = 384 : i64, naive_bytes = 448 : i64}}
// CHECK:       memref.view %{{.*}}[%{{.*}}][] : memref<384xi8> to memref<3xi8>
// CHECK:       memref.view %{{.*}}[%{{.*}}][] : memref<384xi8> to memref<5xf16>
// CHECK:       memref.view %{{.*}}[%{{.*}}][] : memref<384xi8> to memref<9xi1>
// CHECK:       memref.view %{{.*}}[%{{.*}}][] : memref<384xi8> to memref<2xindex>
// CHECK:       memref.view %{{.*}}[%{{.*}}][] : memref<384xi8> to memref<2x20xbf16>
// CHECK:       memref.view %{{.*}}[%{{.*}}][] : memref<384xi8> to memref<3xi8>
// CHECK-NEXT:  memref.alloca() : memref<3xi8>
// 16-byte alignment: 16, 16, 16, 16, 80 (+ 16 for %f) -> 144 bytes.
// A16-LABEL: func.func @element_sizes(
// A16-SAME:    memref<144xi8> {tfm.abi = "arena"}
// A16-SAME:    tfm.memplan = {arena_bytes = 144 : i64, buffers = [
// A16-SAME:      {end = 7 : i64, offset = 80 : i64, size = 16 : i64, start = 7 : i64},
// A16-SAME:      {end = 7 : i64, offset = 96 : i64, size = 16 : i64, start = 7 : i64},
// A16-SAME:      {end = 7 : i64, offset = 112 : i64, size = 16 : i64, start = 7 : i64},
// A16-SAME:      {end = 7 : i64, offset = 128 : i64, size = 16 : i64, start = 7 : i64},
// A16-SAME:      {end = 7 : i64, offset = 0 : i64, size = 80 : i64, start = 7 : i64},
// A16-SAME:      {end = 5 : i64, offset = 0 : i64, size = 16 : i64, start = 5 : i64}],
// A16-SAME:      lower_bound = 144 : i64, naive_bytes = 160 : i64}}
func.func private @consume5(memref<3xi8>, memref<5xf16>, memref<9xi1>,
                            memref<2xindex>, memref<2x20xbf16>)
func.func @element_sizes(%arena: memref<?xi8> {tfm.abi = "arena"}) {
  %a = memref.alloc() : memref<3xi8>                                // 0
  %b = memref.alloc() : memref<5xf16>                               // 1
  %c = memref.alloc() : memref<9xi1>                                // 2
  %d = memref.alloc() : memref<2xindex>                             // 3
  %e = memref.alloc() : memref<2x20xbf16>                           // 4
  %f = memref.alloc() : memref<3xi8>                                // 5
  %g = memref.alloca() : memref<3xi8>                               // 6
  func.call @consume5(%a, %b, %c, %d, %e)
      : (memref<3xi8>, memref<5xf16>, memref<9xi1>, memref<2xindex>,
         memref<2x20xbf16>) -> ()                                   // 7
  return
}

// A region op that yields the buffer makes its result an alias: %a lives
// until %r's last use at 5, so %b goes beside it.
//   a [1, 5]   b [4, 6]
// CHECK-LABEL: func.func @alias_through_region(
// CHECK-SAME:    memref<128xi8> {tfm.abi = "arena"}
// CHECK-SAME:    tfm.memplan = {arena_bytes = 128 : i64, buffers = [
// CHECK-SAME:      {end = 5 : i64, offset = 0 : i64, size = 64 : i64, start = 1 : i64},
// CHECK-SAME:      {end = 6 : i64, offset = 64 : i64, size = 64 : i64, start = 4 : i64}],
// CHECK-SAME:      lower_bound = 128 : i64, naive_bytes = 128 : i64}}
func.func @alias_through_region(%arena: memref<?xi8> {tfm.abi = "arena"},
                                %cond: i1, %in: memref<16xf32>,
                                %out: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>                              // 0
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>            // 1
  %r = scf.if %cond -> (memref<16xf32>) {                           // 2
    scf.yield %a : memref<16xf32>
  } else {
    scf.yield %in : memref<16xf32>
  }
  %b = memref.alloc() : memref<16xf32>                              // 3
  memref.copy %in, %b : memref<16xf32> to memref<16xf32>            // 4
  memref.copy %r, %out : memref<16xf32> to memref<16xf32>           // 5
  memref.copy %b, %out : memref<16xf32> to memref<16xf32>           // 6
  return
}

// Deallocs of planned buffers go; an alloc's own alignment (up to the
// arena's) is fine; earlier uses of the arena keep their type through a cast.
// CHECK-LABEL: func.func @keeps_arena_uses(
// CHECK-SAME:    %[[ARENA:.*]]: memref<64xi8> {tfm.abi = "arena"}
// CHECK-SAME:    tfm.memplan = {arena_bytes = 64 : i64, buffers = [
// CHECK-SAME:      {end = 2 : i64, offset = 0 : i64, size = 64 : i64, start = 2 : i64}],
// CHECK-SAME:      lower_bound = 64 : i64, naive_bytes = 64 : i64}}
// CHECK-NEXT:  %[[CAST:.*]] = memref.cast %[[ARENA]] : memref<64xi8> to memref<?xi8>
// CHECK-NEXT:  call @use_arena(%[[CAST]]) : (memref<?xi8>) -> ()
// CHECK-NEXT:  %[[C0:.*]] = arith.constant 0 : index
// CHECK-NEXT:  %[[A:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<64xi8> to memref<16xf32>
// CHECK-NEXT:  memref.copy %{{.*}}, %[[A]]
// CHECK-NEXT:  return
func.func private @use_arena(memref<?xi8>)
func.func @keeps_arena_uses(%arena: memref<?xi8> {tfm.abi = "arena"},
                            %in: memref<16xf32>) {
  func.call @use_arena(%arena) : (memref<?xi8>) -> ()               // 0
  %a = memref.alloc() {alignment = 16 : i64} : memref<16xf32>       // 1
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>            // 2
  memref.dealloc %a : memref<16xf32>                                // 3
  return
}

// A step with nothing to place still gets a (minimal) arena and a plan.
// CHECK-LABEL: func.func @no_buffers(
// CHECK-SAME:    memref<64xi8> {tfm.abi = "arena"})
// CHECK-SAME:    attributes {tfm.memplan = {arena_bytes = 64 : i64, buffers = [], lower_bound = 0 : i64, naive_bytes = 0 : i64}}
// A16-LABEL: func.func @no_buffers(
// A16-SAME:    memref<16xi8> {tfm.abi = "arena"})
func.func @no_buffers(%arena: memref<?xi8> {tfm.abi = "arena"}) {
  return
}

// A function with neither an arena nor allocs is not a step: left alone.
// CHECK-LABEL: func.func @helper(%{{.*}}: memref<16xf32>) {
// CHECK-NEXT:    return
func.func @helper(%x: memref<16xf32>) {
  return
}
