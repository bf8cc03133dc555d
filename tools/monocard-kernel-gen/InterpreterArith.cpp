//===- InterpreterArith.cpp - arith ops in the interpreter ----------------===//
//
// Elementwise float and integer arithmetic (scalars or vectors), constants,
// comparisons, selects, and the conversions between float, integer and
// index types (InterpreterThread.h).
//
//===----------------------------------------------------------------------===//

#include "InterpreterThread.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <cmath>

using namespace mlir;
using namespace monocard::kernelgen;
using namespace monocard::kernelgen::interp;

static double floatBinary(Operation &op, Type t, double a, double b) {
  auto apply = [&](auto x, auto y) -> double {
    if (isa<arith::AddFOp>(op))
      return x + y;
    if (isa<arith::SubFOp>(op))
      return x - y;
    if (isa<arith::MulFOp>(op))
      return x * y;
    if (isa<arith::DivFOp>(op))
      return x / y;
    if (isa<arith::MaximumFOp>(op))
      return (std::isnan(x) || std::isnan(y)) ? NAN : std::max(x, y);
    if (isa<arith::MinimumFOp>(op))
      return (std::isnan(x) || std::isnan(y)) ? NAN : std::min(x, y);
    return NAN;
  };
  if (t.isF32())
    return apply(float(a), float(b));
  return roundTo(apply(a, b), t);
}

static bool intBinary(Operation &op, Type t, int64_t a, int64_t b,
                      int64_t &r) {
  unsigned w = widthOf(t);
  uint64_t ua = zext(a, w), ub = zext(b, w);
  if (isa<arith::AddIOp>(op))
    r = a + b;
  else if (isa<arith::SubIOp>(op))
    r = a - b;
  else if (isa<arith::MulIOp>(op))
    r = int64_t(uint64_t(a) * uint64_t(b));
  else if (isa<arith::DivUIOp>(op) || isa<arith::RemUIOp>(op)) {
    if (ub == 0)
      return false;
    r = int64_t(isa<arith::DivUIOp>(op) ? ua / ub : ua % ub);
  } else if (isa<arith::DivSIOp>(op) || isa<arith::RemSIOp>(op)) {
    if (b == 0)
      return false;
    r = isa<arith::DivSIOp>(op) ? a / b : a % b;
  } else if (isa<arith::MinUIOp>(op))
    r = int64_t(std::min(ua, ub));
  else if (isa<arith::MaxUIOp>(op))
    r = int64_t(std::max(ua, ub));
  else if (isa<arith::MinSIOp>(op))
    r = std::min(a, b);
  else if (isa<arith::MaxSIOp>(op))
    r = std::max(a, b);
  else if (isa<arith::AndIOp>(op))
    r = a & b;
  else if (isa<arith::OrIOp>(op))
    r = a | b;
  else if (isa<arith::XOrIOp>(op))
    r = a ^ b;
  else if (isa<arith::ShLIOp>(op))
    r = ub >= w ? 0 : int64_t(ua << ub);
  else if (isa<arith::ShRUIOp>(op))
    r = ub >= w ? 0 : int64_t(ua >> ub);
  else if (isa<arith::ShRSIOp>(op))
    r = a >> std::min<uint64_t>(ub, 63);
  else
    return false;
  r = normalize(r, w);
  return true;
}

static bool cmpI(arith::CmpIPredicate p, Type t, int64_t a, int64_t b) {
  unsigned w = widthOf(t);
  uint64_t ua = zext(a, w), ub = zext(b, w);
  switch (p) {
  case arith::CmpIPredicate::eq: return a == b;
  case arith::CmpIPredicate::ne: return a != b;
  case arith::CmpIPredicate::slt: return a < b;
  case arith::CmpIPredicate::sle: return a <= b;
  case arith::CmpIPredicate::sgt: return a > b;
  case arith::CmpIPredicate::sge: return a >= b;
  case arith::CmpIPredicate::ult: return ua < ub;
  case arith::CmpIPredicate::ule: return ua <= ub;
  case arith::CmpIPredicate::ugt: return ua > ub;
  case arith::CmpIPredicate::uge: return ua >= ub;
  }
  return false;
}

static bool cmpF(arith::CmpFPredicate p, double a, double b) {
  bool unordered = std::isnan(a) || std::isnan(b);
  switch (p) {
  case arith::CmpFPredicate::OEQ: return !unordered && a == b;
  case arith::CmpFPredicate::OGT: return !unordered && a > b;
  case arith::CmpFPredicate::OGE: return !unordered && a >= b;
  case arith::CmpFPredicate::OLT: return !unordered && a < b;
  case arith::CmpFPredicate::OLE: return !unordered && a <= b;
  case arith::CmpFPredicate::ONE: return !unordered && a != b;
  case arith::CmpFPredicate::UNE: return unordered || a != b;
  case arith::CmpFPredicate::UGT: return unordered || a > b;
  case arith::CmpFPredicate::ULT: return unordered || a < b;
  default: return false;
  }
}

std::optional<bool> Thread::execArith(Operation &op) {
  if (isa<arith::AddFOp, arith::SubFOp, arith::MulFOp, arith::DivFOp,
          arith::MaximumFOp, arith::MinimumFOp>(op)) {
    Type t = eltOf(op.getResult(0));
    SmallVector<double> r;
    for (size_t i = 0; i < lanes(op.getResult(0).getType()); ++i)
      r.push_back(floatBinary(op, t, f(op.getOperand(0), i),
                              f(op.getOperand(1), i)));
    setF(op.getResult(0), r);
    return true;
  }
  if (isa<arith::AddIOp, arith::SubIOp, arith::MulIOp, arith::DivUIOp,
          arith::RemUIOp, arith::DivSIOp, arith::RemSIOp, arith::MinUIOp,
          arith::MaxUIOp, arith::MinSIOp, arith::MaxSIOp, arith::AndIOp,
          arith::OrIOp, arith::XOrIOp, arith::ShLIOp, arith::ShRUIOp,
          arith::ShRSIOp>(op)) {
    Type t = eltOf(op.getResult(0));
    SmallVector<int64_t> r;
    for (size_t i = 0; i < lanes(op.getResult(0).getType()); ++i) {
      int64_t v;
      if (!intBinary(op, t, iv(op.getOperand(0), i), iv(op.getOperand(1), i),
                     v))
        return fail(op, "division by zero or unsupported");
      r.push_back(v);
    }
    setI(op.getResult(0), r);
    return true;
  }
  if (auto c = dyn_cast<arith::ConstantOp>(op)) {
    Attribute a = c.getValue();
    Type t = eltOf(c.getResult());
    if (auto ia = dyn_cast<IntegerAttr>(a)) {
      setI(c.getResult(), {normalize(ia.getValue().getSExtValue(),
                                     widthOf(t))});
      return true;
    }
    if (auto fa = dyn_cast<FloatAttr>(a)) {
      setF(c.getResult(), {fa.getValueAsDouble()});
      return true;
    }
    if (auto da = dyn_cast<DenseElementsAttr>(a)) {
      if (isa<FloatType>(t)) {
        SmallVector<double> r;
        for (APFloat v : da.getValues<APFloat>()) {
          bool lost;
          v.convert(llvm::APFloat::IEEEdouble(),
                    llvm::APFloat::rmNearestTiesToEven, &lost);
          r.push_back(v.convertToDouble());
        }
        setF(c.getResult(), r);
      } else {
        SmallVector<int64_t> r;
        for (APInt v : da.getValues<APInt>())
          r.push_back(normalize(v.getSExtValue(), widthOf(t)));
        setI(c.getResult(), r);
      }
      return true;
    }
    return fail(op, "unsupported constant");
  }
  if (auto c = dyn_cast<arith::CmpIOp>(op)) {
    Type t = eltOf(c.getLhs());
    SmallVector<int64_t> r;
    for (size_t i = 0; i < lanes(c.getLhs().getType()); ++i)
      r.push_back(cmpI(c.getPredicate(), t, iv(c.getLhs(), i),
                       iv(c.getRhs(), i)));
    setI(c.getResult(), r);
    return true;
  }
  if (auto c = dyn_cast<arith::CmpFOp>(op)) {
    SmallVector<int64_t> r;
    for (size_t i = 0; i < lanes(c.getLhs().getType()); ++i)
      r.push_back(cmpF(c.getPredicate(), f(c.getLhs(), i), f(c.getRhs(), i)));
    setI(c.getResult(), r);
    return true;
  }
  if (auto s = dyn_cast<arith::SelectOp>(op)) {
    RtVal r;
    const RtVal &cond = get(s.getCondition());
    const RtVal &a = get(s.getTrueValue()), &b = get(s.getFalseValue());
    for (size_t i = 0; i < a.e.size(); ++i) {
      bool c = cond.e.size() == 1 ? cond.e[0].i : cond.e[i].i;
      r.e.push_back(c ? a.e[i] : b.e[i]);
    }
    r.mem = a.mem;
    vals[s.getResult()] = r;
    return true;
  }
  if (isa<arith::NegFOp>(op)) {
    SmallVector<double> r;
    for (Slot s : get(op.getOperand(0)).e)
      r.push_back(-s.d);
    setF(op.getResult(0), r);
    return true;
  }
  return std::nullopt;
}

std::optional<bool> Thread::execCast(Operation &op) {
  if (isa<arith::ExtFOp, arith::TruncFOp>(op)) {
    Type t = eltOf(op.getResult(0));
    SmallVector<double> r;
    for (Slot s : get(op.getOperand(0)).e)
      r.push_back(roundTo(s.d, t));
    setF(op.getResult(0), r);
    return true;
  }
  if (isa<arith::ExtUIOp, arith::ExtSIOp, arith::TruncIOp,
          arith::IndexCastOp, arith::IndexCastUIOp>(op)) {
    Type from = eltOf(op.getOperand(0)), to = eltOf(op.getResult(0));
    bool unsignedSrc = isa<arith::ExtUIOp, arith::IndexCastUIOp>(op);
    SmallVector<int64_t> r;
    for (Slot s : get(op.getOperand(0)).e) {
      int64_t v = unsignedSrc ? int64_t(zext(s.i, widthOf(from))) : s.i;
      r.push_back(normalize(v, widthOf(to)));
    }
    setI(op.getResult(0), r);
    return true;
  }
  if (isa<arith::UIToFPOp, arith::SIToFPOp>(op)) {
    Type from = eltOf(op.getOperand(0)), to = eltOf(op.getResult(0));
    SmallVector<double> r;
    for (Slot s : get(op.getOperand(0)).e) {
      double v = isa<arith::UIToFPOp>(op) ? double(zext(s.i, widthOf(from)))
                                          : double(s.i);
      r.push_back(roundTo(v, to));
    }
    setF(op.getResult(0), r);
    return true;
  }
  if (isa<arith::FPToSIOp>(op)) {
    Type to = eltOf(op.getResult(0));
    SmallVector<int64_t> r;
    for (Slot s : get(op.getOperand(0)).e)
      r.push_back(normalize(int64_t(std::trunc(s.d)), widthOf(to)));
    setI(op.getResult(0), r);
    return true;
  }
  if (isa<arith::BitcastOp, vector::BitCastOp, LLVM::BitcastOp>(op)) {
    // Through the bytes, little endian.
    Value in = op.getOperand(0), res = op.getResult(0);
    Type from = eltOf(in), to = eltOf(res);
    std::vector<uint8_t> bytes;
    for (Slot s : get(in).e) {
      uint64_t bits = toBits(s.d, s.i, from);
      unsigned n = std::max(1u, from.getIntOrFloatBitWidth() / 8);
      for (unsigned k = 0; k < n; ++k)
        bytes.push_back(uint8_t(bits >> (8 * k)));
    }
    unsigned n = std::max(1u, to.getIntOrFloatBitWidth() / 8);
    RtVal r;
    for (size_t at = 0; at + n <= bytes.size(); at += n) {
      uint64_t bits = 0;
      for (unsigned k = 0; k < n; ++k)
        bits |= uint64_t(bytes[at + k]) << (8 * k);
      Slot s;
      s.i = 0;
      fromBits(bits, to, s.d, s.i);
      r.e.push_back(s);
    }
    vals[res] = r;
    return true;
  }
  return std::nullopt;
}
