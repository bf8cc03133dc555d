// RUN: monocard-opt %s --tfm-select-parallel-loops=min-work=0 -verify-diagnostics

// expected-error @+1 {{min-work must be > 0, got 0}}
func.func @f() {
  return
}
