//===- Interpreter.h - run a gpu.func kernel on the CPU ---------*- C++ -*-===//
//
// A slow, literal interpreter of the kernels the C++ kernel builders emit
// (the ops of the gpu.func before any lowering), so kernel numerics can be
// checked without a GPU. The threads of a block are fibers of one OS
// thread, switched where they wait: barriers and warp collectives
// (shuffles, mma.sync). Loads and
// stores are bounds checked; vector accesses are checked against their
// alignment (buffers are taken to be 256-byte aligned). Workgroup memory
// starts as NaN patterns and is race checked: an element written by one
// thread and touched by another with no barrier between is an error. Each
// scheduling round resumes the threads in a new random order.
//
//===----------------------------------------------------------------------===//

#ifndef MONOCARD_TOOLS_KERNELGEN_INTERPRETER_H
#define MONOCARD_TOOLS_KERNELGEN_INTERPRETER_H

#include "mlir/Dialect/GPU/IR/GPUDialect.h"

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace monocard::kernelgen {

/// A flat buffer of `count` elements of `elt` (float or integer type).
struct Buffer {
  std::string name;
  mlir::Type elt;
  int64_t count = 0;
  std::vector<uint8_t> data;

  Buffer() = default;
  Buffer(std::string name, mlir::Type elt, int64_t count);
  int64_t eltBytes() const;
  /// Element i as a double (floats) or a sign-extended integer.
  double getF(int64_t i) const;
  int64_t getI(int64_t i) const;
  /// Stores v rounded to the element type (floats) or truncated (ints).
  void setF(int64_t i, double v);
  void setI(int64_t i, int64_t v);
};

/// v rounded to the float type t (round to nearest even).
double roundTo(double v, mlir::Type t);

/// Runs `fn` on grid x block threads with `args` as its parameters.
/// Returns an empty string on success, else what went wrong.
std::string interpret(mlir::gpu::GPUFuncOp fn,
                      const std::vector<Buffer *> &args,
                      std::array<int64_t, 3> grid, int64_t block);

} // namespace monocard::kernelgen

#endif // MONOCARD_TOOLS_KERNELGEN_INTERPRETER_H
