// RUN: monocard-opt %s --tfm-plan-memory -split-input-file -verify-diagnostics

// An alloc inside a loop would need a slot per iteration (or proof it has
// none); the pass wants it hoisted to the function's top level first.
func.func @alloc_in_loop(%arena: memref<?xi8> {tfm.abi = "arena"},
                         %out: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.for %i = %c0 to %c4 step %c1 {
    // expected-error @+1 {{'memref.alloc' op inside a loop or region cannot be planned; hoist it first}}
    %a = memref.alloc() : memref<16xf32>
    memref.copy %a, %out : memref<16xf32> to memref<16xf32>
  }
  return
}

// -----

func.func @dynamic(%arena: memref<?xi8> {tfm.abi = "arena"}, %n: index) {
  // expected-error @+1 {{cannot plan a dynamically shaped buffer}}
  %a = memref.alloc(%n) : memref<?xf32>
  return
}

// -----

func.func @returned(%arena: memref<?xi8> {tfm.abi = "arena"})
    -> memref<16xf32> {
  // expected-error @+1 {{buffer escapes the step function and cannot live in the arena}}
  %a = memref.alloc() : memref<16xf32>
  // expected-note @+1 {{escapes through this 'func.return'}}
  return %a : memref<16xf32>
}

// -----

// Escaping through a view is escaping too.
func.func @returned_view(%arena: memref<?xi8> {tfm.abi = "arena"})
    -> memref<64xf32> {
  // expected-error @+1 {{buffer escapes the step function and cannot live in the arena}}
  %a = memref.alloc() : memref<4x16xf32>
  %flat = memref.collapse_shape %a [[0, 1]]
      : memref<4x16xf32> into memref<64xf32>
  // expected-note @+1 {{escapes through this 'func.return'}}
  return %flat : memref<64xf32>
}

// -----

// Storing the buffer itself somewhere lets it outlive the step.
func.func @stored(%arena: memref<?xi8> {tfm.abi = "arena"},
                  %slot: memref<1xmemref<16xf32>>) {
  %c0 = arith.constant 0 : index
  // expected-error @+1 {{buffer escapes the step function and cannot live in the arena}}
  %a = memref.alloc() : memref<16xf32>
  // expected-note @+1 {{escapes through this 'memref.store'}}
  memref.store %a, %slot[%c0] : memref<1xmemref<16xf32>>
  return
}

// -----

// expected-error @+1 {{step function has no argument marked {tfm.abi = "arena"}}
func.func @no_arena(%out: memref<16xf32>) {
  %a = memref.alloc() : memref<16xf32>
  memref.copy %a, %out : memref<16xf32> to memref<16xf32>
  return
}

// -----

// expected-error @+1 {{step function has more than one argument marked {tfm.abi = "arena"}: #0 and #1}}
func.func @two_arenas(%a0: memref<?xi8> {tfm.abi = "arena"},
                      %a1: memref<?xi8> {tfm.abi = "arena"}) {
  return
}

// -----

// expected-error @+1 {{the arena argument must be a 1-D memref of i8 with an identity layout, got 'memref<?xf32>'}}
func.func @arena_not_bytes(%arena: memref<?xf32> {tfm.abi = "arena"}) {
  return
}

// -----

func.func @over_aligned(%arena: memref<?xi8> {tfm.abi = "arena"}) {
  // expected-error @+1 {{'memref.alloc' op requests alignment 128 but the arena aligns buffers to 64; raise the pass's `alignment` option}}
  %a = memref.alloc() {alignment = 128 : i64} : memref<16xf32>
  return
}

// -----

func.func @strided(%arena: memref<?xi8> {tfm.abi = "arena"}) {
  // expected-error @+1 {{cannot plan a buffer with a non-identity layout}}
  %a = memref.alloc() : memref<4x4xf32, strided<[8, 1]>>
  return
}

// -----

func.func @other_space(%arena: memref<?xi8> {tfm.abi = "arena"}) {
  // expected-error @+1 {{'memref.alloc' op is in memory space 3 : i64 but the arena is in the default memory space}}
  %a = memref.alloc() : memref<16xf32, 3>
  return
}

// -----

// 2^61 f32s are 2^63 bytes: the size must not wrap into a negative one.
func.func @size_wraps(%arena: memref<?xi8> {tfm.abi = "arena"}) {
  // expected-error @+1 {{'memref.alloc' op buffer 'memref<2305843009213693952xf32>' overflows 64-bit sizes}}
  %a = memref.alloc() : memref<2305843009213693952xf32>
  return
}

// -----

// Each fits, their sum does not.
func.func @total_wraps(%arena: memref<?xi8> {tfm.abi = "arena"}) {
  %a = memref.alloc() : memref<1152921504606846976xf32>
  // expected-error @+1 {{brings the buffers' total past 64-bit sizes}}
  %b = memref.alloc() : memref<1152921504606846976xf32>
  return
}
