# Helpers for the compiler side (the parts that link MLIR).
#
# Debian builds LLVM without RTTI and ships MLIR as one shared library
# (libMLIR.so): linking it instead of ~300 static archives keeps a relink
# after touching one file well under a second.

# A precompiled header of the heavy MLIR headers shared by every compiler
# library; the dialect headers alone cost ~20 s per translation unit.
set(MONOCARD_PCH_HEADERS
  <mlir/IR/BuiltinOps.h>
  <mlir/IR/PatternMatch.h>
  <mlir/IR/OpDefinition.h>
  <mlir/Pass/Pass.h>
  <mlir/Transforms/DialectConversion.h>
  <mlir/Dialect/Func/IR/FuncOps.h>
  <mlir/Dialect/Arith/IR/Arith.h>
  <mlir/Dialect/Tensor/IR/Tensor.h>
  <mlir/Dialect/Linalg/IR/Linalg.h>
  <mlir/Dialect/MemRef/IR/MemRef.h>
  <mlir/Dialect/SCF/IR/SCF.h>
  <mlir/Dialect/LLVMIR/LLVMDialect.h>
  <mlir/Dialect/GPU/IR/GPUDialect.h>
  <mlir/Dialect/Vector/IR/VectorOps.h>
  <llvm/Support/JSON.h>
)

function(monocard_compiler_target target)
  target_compile_options(${target} PRIVATE -fno-rtti -Wno-unused-parameter)
  target_link_libraries(${target} PUBLIC MLIR LLVM)
  if(NOT target STREQUAL "MonocardPCH")
    target_precompile_headers(${target} REUSE_FROM MonocardPCH)
  endif()
endfunction()

function(add_monocard_library name)
  cmake_parse_arguments(ARG "" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_library(${name} STATIC ${ARG_UNPARSED_ARGUMENTS})
  if(ARG_DEPENDS)
    add_dependencies(${name} ${ARG_DEPENDS})
  endif()
  monocard_compiler_target(${name})
  if(ARG_LINK_LIBS)
    target_link_libraries(${name} PUBLIC ${ARG_LINK_LIBS})
  endif()
endfunction()
