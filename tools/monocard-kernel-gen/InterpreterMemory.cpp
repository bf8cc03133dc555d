//===- InterpreterMemory.cpp - vector and memory ops in the interpreter ---===//
//
// Vector construction and shuffles, and loads and stores of memrefs and
// vectors (bounds, alignment and shared-memory races checked), globals
// (InterpreterThread.h).
//
//===----------------------------------------------------------------------===//

#include "InterpreterThread.h"

#include "mlir/Dialect/MemRef/IR/MemRef.h"
#include "mlir/Dialect/Vector/IR/VectorOps.h"
#include "mlir/IR/BuiltinAttributes.h"

#include <cstring>

using namespace mlir;
using namespace monocard::kernelgen;
using namespace monocard::kernelgen::interp;

std::optional<bool> Thread::execVector(Operation &op) {
  if (auto bc = dyn_cast<vector::BroadcastOp>(op)) {
    RtVal r;
    Slot s = get(bc.getSource()).e[0];
    r.e.assign(lanes(bc.getType()), s);
    vals[bc.getResult()] = r;
    return true;
  }
  if (auto ex = dyn_cast<vector::ExtractOp>(op)) {
    ArrayRef<int64_t> pos = ex.getStaticPosition();
    if (pos.size() != 1 || ShapedType::isDynamic(pos[0]))
      return fail(op, "only static 1-D positions");
    RtVal r;
    r.e.push_back(get(ex.getSource()).e[size_t(pos[0])]);
    vals[ex.getResult()] = r;
    return true;
  }
  if (auto fe = dyn_cast<vector::FromElementsOp>(op)) {
    RtVal r;
    for (Value v : fe.getElements())
      r.e.push_back(get(v).e[0]);
    vals[fe.getResult()] = r;
    return true;
  }
  if (auto sh = dyn_cast<vector::ShuffleOp>(op)) {
    const RtVal &a = get(sh.getV1()), &b = get(sh.getV2());
    RtVal r;
    for (int64_t m : sh.getMask())
      r.e.push_back(size_t(m) < a.e.size() ? a.e[size_t(m)]
                                           : b.e[size_t(m) - a.e.size()]);
    vals[sh.getResult()] = r;
    return true;
  }
  if (isa<vector::FMAOp, LLVM::FMAOp>(op)) {
    Type t = eltOf(op.getResult(0));
    SmallVector<double> r;
    for (size_t i = 0; i < lanes(op.getResult(0).getType()); ++i) {
      double a = f(op.getOperand(0), i), b = f(op.getOperand(1), i),
             c = f(op.getOperand(2), i);
      r.push_back(t.isF32() ? double(std::fma(float(a), float(b), float(c)))
                            : roundTo(std::fma(a, b, c), t));
    }
    setF(op.getResult(0), r);
    return true;
  }
  if (auto red = dyn_cast<vector::ReductionOp>(op)) {
    if (red.getKind() != vector::CombiningKind::ADD || red.getAcc())
      return fail(op, "only add reductions");
    float s = 0;
    for (Slot v : get(red.getVector()).e)
      s += float(v.d);
    setF(red.getResult(), {double(s)});
    return true;
  }
  return std::nullopt;
}

std::optional<bool> Thread::execMemory(Operation &op) {
  if (auto ld = dyn_cast<memref::LoadOp>(op)) {
    Buffer *b = get(ld.getMemRef()).mem;
    int64_t i = iv(ld.getIndices()[0]);
    if (!access(op, b, i, 1, std::nullopt) || !track(op, b, i, false, 0))
      return false;
    if (isa<FloatType>(b->elt))
      setF(ld.getResult(), {b->getF(i)});
    else
      setI(ld.getResult(), {b->getI(i)});
    return true;
  }
  if (auto st = dyn_cast<memref::StoreOp>(op)) {
    Buffer *b = get(st.getMemRef()).mem;
    int64_t i = iv(st.getIndices()[0]);
    Slot s = get(st.getValueToStore()).e[0];
    if (!access(op, b, i, 1, std::nullopt) ||
        !track(op, b, i, true, toBits(s.d, s.i, b->elt)))
      return false;
    if (isa<FloatType>(b->elt))
      b->setF(i, s.d);
    else
      b->setI(i, s.i);
    return true;
  }
  if (auto ld = dyn_cast<vector::LoadOp>(op)) {
    Buffer *b = get(ld.getBase()).mem;
    int64_t i = iv(ld.getIndices()[0]);
    int64_t n = ld.getVectorType().getNumElements();
    std::optional<uint64_t> align;
    if (auto a = ld.getAlignment())
      align = *a;
    if (!access(op, b, i, n, align))
      return false;
    RtVal r;
    for (int64_t k = 0; k < n; ++k) {
      if (!track(op, b, i + k, false, 0))
        return false;
      Slot s;
      if (isa<FloatType>(b->elt))
        s.d = b->getF(i + k);
      else
        s.i = b->getI(i + k);
      r.e.push_back(s);
    }
    vals[ld.getResult()] = r;
    return true;
  }
  if (auto st = dyn_cast<vector::StoreOp>(op)) {
    Buffer *b = get(st.getBase()).mem;
    int64_t i = iv(st.getIndices()[0]);
    int64_t n = st.getVectorType().getNumElements();
    std::optional<uint64_t> align;
    if (auto a = st.getAlignment())
      align = *a;
    if (!access(op, b, i, n, align))
      return false;
    const RtVal &v = get(st.getValueToStore());
    for (int64_t k = 0; k < n; ++k) {
      Slot sk = v.e[size_t(k)];
      if (!track(op, b, i + k, true, toBits(sk.d, sk.i, b->elt)))
        return false;
      if (isa<FloatType>(b->elt))
        b->setF(i + k, v.e[size_t(k)].d);
      else
        b->setI(i + k, v.e[size_t(k)].i);
    }
    return true;
  }
  if (auto gg = dyn_cast<memref::GetGlobalOp>(op)) {
    std::lock_guard<std::mutex> lock(blk.sh.globalsMu);
    auto it = blk.sh.globals.find(gg.getName());
    if (it == blk.sh.globals.end()) {
      auto global = SymbolTable::lookupNearestSymbolFrom<memref::GlobalOp>(
          &op, gg.getNameAttr());
      if (!global || !global.getInitialValue())
        return fail(op, "no initialised global");
      auto dense = cast<DenseElementsAttr>(*global.getInitialValue());
      Buffer buf(gg.getName().str(), global.getType().getElementType(),
                 global.getType().getNumElements());
      int64_t k = 0;
      for (APFloat v : dense.getValues<APFloat>()) {
        bool lost;
        v.convert(llvm::APFloat::IEEEdouble(),
                  llvm::APFloat::rmNearestTiesToEven, &lost);
        buf.setF(k++, v.convertToDouble());
      }
      it = blk.sh.globals.insert({gg.getName(), std::move(buf)}).first;
    }
    RtVal r;
    r.mem = &it->second;
    vals[gg.getResult()] = r;
    return true;
  }
  return std::nullopt;
}
