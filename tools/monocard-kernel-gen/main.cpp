//===- main.cpp - build fused linear kernels from specs, alone ------------===//
//
// monocard-kernel-gen [--emit=gpu|launches|ptx] [--run] SPEC...
//
// Builds KernelLibrary::fusedLinear for each SPEC into one module, without
// the tfm lowering, and
//   --emit=gpu       prints the module (the gpu.module of kernels);
//   --emit=launches  prints one line per spec: kernel, grid and block;
//   --emit=ptx       runs the CUDA target's Ptx stage and prints the PTX;
//   --run            runs each kernel in a CPU interpreter (Interpreter.h)
//                    on random inputs and compares with a double-precision
//                    reference: one PASS/FAIL line per spec, exit status 1
//                    on any failure.
//
// SPEC is comma-separated key=value items:
//   m=, n=, k=         extents (n may be left out with qkv)
//   x=, w=, y=         storage types (f32, f16, bf16)
//   q=BITS:GROUP:T     quantized W (8 or 4 bits, group, scale type)
//   bias=T  norm=T  eps=E  res=T  swiglu
//   qkv=H:KV:D:S       heads, kv heads, head dim, cache capacity
//   cache=T  theta=R  pos=P   (qkv: cache type, RoPE base, position)
//
//===----------------------------------------------------------------------===//

#include "Interpreter.h"

#include "monocard/InitAll.h"
#include "monocard/Target/Cuda/CudaPipeline.h"
#include "monocard/Target/Cuda/Kernels/KernelLibrary.h"

#include "mlir/Dialect/LLVMIR/NVVMDialect.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/FormatVariadic.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <random>

using namespace mlir;
using namespace monocard::gpu_kernels;
using monocard::kernelgen::Buffer;
using monocard::kernelgen::roundTo;

namespace {

llvm::cl::list<std::string> specs(llvm::cl::Positional, llvm::cl::desc("SPEC..."),
                            llvm::cl::OneOrMore);
llvm::cl::opt<std::string> emit("emit", llvm::cl::desc("gpu, launches or ptx"),
                          llvm::cl::init("gpu"));
llvm::cl::opt<bool> runKernels("run",
                         llvm::cl::desc("interpret each kernel and check it"));
llvm::cl::opt<unsigned> seed("seed", llvm::cl::desc("random seed"), llvm::cl::init(1));
llvm::cl::opt<std::string> gpuName("gpu",
                               llvm::cl::desc("GPU to choose launch shapes "
                                              "for (a chip or sm_XX)"));
llvm::cl::opt<std::string> gemvTune("gemv-tune",
                                    llvm::cl::desc("GEMV tuning override "
                                                   "u=U,bps=B,persist=0|1,"
                                                   "roll=0|1"));
llvm::cl::opt<std::string> gemmTile("gemm-tile",
                                    llvm::cl::desc("GEMM tile override BMxBN"));
llvm::cl::opt<int> sms("sms",
                       llvm::cl::desc("--run: size persistent grids for a "
                                      "GPU of this many SMs, as the "
                                      "launcher does (0: the compiled grid)"),
                       llvm::cl::init(0));

struct Case {
  std::string text;
  LinearSpec spec;
  double theta = 10000;
  int64_t pos = 0;
};

bool fail(const Twine &msg) {
  llvm::errs() << "error: " << msg << "\n";
  return false;
}

Type parseType(MLIRContext *ctx, StringRef s) {
  if (s == "f32")
    return Float32Type::get(ctx);
  if (s == "f16")
    return Float16Type::get(ctx);
  if (s == "bf16")
    return BFloat16Type::get(ctx);
  return {};
}

bool parseSpec(MLIRContext *ctx, StringRef text, Case &c) {
  c.text = text.str();
  LinearSpec &s = c.spec;
  s.m = 0;
  SmallVector<StringRef> items;
  text.split(items, ',', -1, false);
  auto num = [&](StringRef v, int64_t &out) {
    return !v.getAsInteger(10, out);
  };
  auto type = [&](StringRef v, Type &out) {
    out = parseType(ctx, v);
    return bool(out);
  };
  for (StringRef item : items) {
    auto [key, val] = item.split('=');
    bool ok = true;
    if (key == "m")
      ok = num(val, s.m);
    else if (key == "n")
      ok = num(val, s.n);
    else if (key == "k")
      ok = num(val, s.k);
    else if (key == "x")
      ok = type(val, s.xT);
    else if (key == "w")
      ok = type(val, s.wT);
    else if (key == "y")
      ok = type(val, s.yT);
    else if (key == "bias")
      ok = type(val, s.biasT);
    else if (key == "norm")
      ok = type(val, s.normT);
    else if (key == "res")
      ok = type(val, s.residualT);
    else if (key == "cache")
      ok = type(val, s.cacheT);
    else if (key == "swiglu")
      s.swiglu = true;
    else if (key == "eps")
      ok = !val.getAsDouble(s.eps);
    else if (key == "theta")
      ok = !val.getAsDouble(c.theta);
    else if (key == "pos")
      ok = num(val, c.pos);
    else if (key == "q") {
      SmallVector<StringRef> p;
      val.split(p, ':');
      ok = p.size() == 3 && num(p[0], s.quant.bits) &&
           num(p[1], s.quant.group) && type(p[2], s.quant.scaleT);
    } else if (key == "qkv") {
      SmallVector<StringRef> p;
      val.split(p, ':');
      s.qkv = true;
      ok = p.size() == 4 && num(p[0], s.heads) && num(p[1], s.kvHeads) &&
           num(p[2], s.headDim) && num(p[3], s.capacity);
    } else {
      return fail("unknown key '" + key + "' in " + text);
    }
    if (!ok)
      return fail("bad value for '" + key + "' in " + text);
  }
  if (s.qkv && s.n == 0)
    s.n = (s.heads + 2 * s.kvHeads) * s.headDim;
  if (s.quant)
    s.quant.rowBytes = (s.k * s.quant.bits / 8 + (s.k * s.quant.bits % 8 != 0) +
                        15) / 16 * 16;
  if (s.qkv)
    for (int64_t i = 0; i < s.headDim / 2; ++i)
      s.invFreqs.push_back(
          float(1.0 / std::pow(c.theta, double(2 * i) / double(s.headDim))));
  if (!s.wT)
    s.wT = s.xT;
  if (s.qkv && !s.cacheT)
    s.cacheT = s.yT;
  if (s.m < 1 || s.n < 1 || s.k < 1 || !s.xT || !s.yT)
    return fail("a spec needs m >= 1, n, k, x and y: " + text);
  return true;
}

double unitInType(Type t) {
  if (t.isBF16())
    return std::ldexp(1.0, -8);
  if (t.isF16())
    return std::ldexp(1.0, -11);
  return std::ldexp(1.0, -23);
}

/// Interprets the kernel of one case and compares every output with a
/// double-precision reference.
class Checker {
public:
  Checker(const Case &c, KernelLaunch launch, std::mt19937 &rng)
      : c(c), s(c.spec), launch(launch), rng(rng), m(s.m), n(s.n), k(s.k),
        width(s.width()) {}

  /// Prints PASS or FAIL with the kernel's name; true on PASS.
  bool run();

private:
  /// A new kernel argument, in LinearSpec's order.
  Buffer *add(std::string name, Type t, int64_t count);
  /// Uniform random values in [lo, hi).
  void fill(Buffer &b, double lo, double hi);
  /// Every argument: random inputs, y all NaN (every element must be
  /// written), the caches all `sentinel` (only the row's slots may be).
  void makeInputs();
  /// Random codes (padding bytes too: the kernel must not depend on them)
  /// and (scale, zero) pairs; `wv` gets the weights they stand for.
  void makeQuantizedWeights();
  /// Reference z and a bound on its error, per (row, column).
  void reference();
  /// Records `got` against `ref` +- `tol` for the worst ratio and the first
  /// bad value.
  void expect(const char *what, int64_t i, double got, double ref, double tol);
  /// q roped into y, k roped and v into the caches at pos + r; nothing
  /// else of the caches touched.
  void compareQkv();
  void compareSwiglu();
  void comparePlain();

  const Case &c;
  const LinearSpec &s;
  KernelLaunch launch;
  std::mt19937 &rng;
  const int64_t m, n, k, width;

  std::vector<std::unique_ptr<Buffer>> owned;
  std::vector<Buffer *> args;
  Buffer *x = nullptr, *bias = nullptr, *normW = nullptr, *res = nullptr,
         *y = nullptr, *kc = nullptr, *vc = nullptr;
  /// W as doubles, [n][k].
  std::vector<double> wv;
  static constexpr double sentinel = -3.25;
  std::vector<double> z, ez;
  /// Twice the unit roundoff of y's type.
  double uy = 0;
  double worst = 0; // max |got - ref| / tol
  int64_t bad = 0;
  std::string firstBad;
};

Buffer *Checker::add(std::string name, Type t, int64_t count) {
  owned.push_back(std::make_unique<Buffer>(name, t, count));
  args.push_back(owned.back().get());
  return owned.back().get();
}

void Checker::fill(Buffer &b, double lo, double hi) {
  std::uniform_real_distribution<double> d(lo, hi);
  for (int64_t i = 0; i < b.count; ++i)
    b.setF(i, d(rng));
}

void Checker::makeQuantizedWeights() {
  MLIRContext *ctx = launch.func.getContext();
  Type i8 = IntegerType::get(ctx, 8);
  int64_t groups = s.quant.groups(k);
  Buffer *codes = add("codes", i8, n * s.quant.rowBytes);
  Buffer *params = add("params", s.quant.scaleT, n * groups * 2);
  std::uniform_int_distribution<int> byte(-128, 127);
  for (int64_t i = 0; i < codes->count; ++i)
    codes->setI(i, byte(rng));
  std::uniform_real_distribution<double> sc(0.01, 0.05);
  std::uniform_int_distribution<int> zero(0, 15);
  for (int64_t r = 0; r < n; ++r)
    for (int64_t g = 0; g < groups; ++g) {
      params->setF((r * groups + g) * 2, sc(rng));
      params->setF((r * groups + g) * 2 + 1,
                   s.quant.bits == 8 ? 0.0 : double(zero(rng)));
    }
  for (int64_t r = 0; r < n; ++r)
    for (int64_t kk = 0; kk < k; ++kk) {
      double q;
      if (s.quant.bits == 8) {
        // Symmetric codes are in [-127, 127].
        int64_t v = codes->getI(r * s.quant.rowBytes + kk);
        if (v == -128) {
          codes->setI(r * s.quant.rowBytes + kk, -127);
          v = -127;
        }
        q = double(v);
      } else {
        uint64_t byteV =
            uint64_t(codes->getI(r * s.quant.rowBytes + kk / 2)) & 0xff;
        q = double(kk % 2 ? byteV >> 4 : byteV & 15);
      }
      int64_t g = kk / s.quant.group;
      double scale = params->getF((r * groups + g) * 2);
      double zp = params->getF((r * groups + g) * 2 + 1);
      wv[size_t(r * k + kk)] = (q - zp) * scale;
    }
}

void Checker::makeInputs() {
  MLIRContext *ctx = launch.func.getContext();
  Type i32 = IntegerType::get(ctx, 32);
  x = add("x", s.xT, m * k);
  fill(*x, -1, 1);
  wv.resize(size_t(n * k));
  if (s.quant) {
    makeQuantizedWeights();
  } else {
    Buffer *w = add("w", s.wT, n * k);
    fill(*w, -0.5, 0.5);
    for (int64_t i = 0; i < n * k; ++i)
      wv[size_t(i)] = w->getF(i);
  }
  if (s.biasT) {
    bias = add("bias", s.biasT, n);
    fill(*bias, -0.5, 0.5);
  }
  if (s.normT) {
    normW = add("normW", s.normT, k);
    fill(*normW, 0.5, 1.5);
  }
  if (s.residualT) {
    res = add("residual", s.residualT, m * width);
    fill(*res, -1, 1);
  }
  y = add("y", s.yT, m * width);
  for (int64_t i = 0; i < y->count; ++i)
    y->setF(i, NAN);
  if (s.qkv) {
    int64_t cache = s.kvHeads * s.capacity * s.headDim;
    kc = add("keyCache", s.cacheT, cache);
    vc = add("valueCache", s.cacheT, cache);
    for (int64_t i = 0; i < cache; ++i) {
      kc->setF(i, sentinel);
      vc->setF(i, sentinel);
    }
    Buffer *sc = add("scalars", i32, kNumScalars);
    sc->setI(kPos, c.pos);
  }
}

void Checker::reference() {
  bool half = s.xT.isF16() || s.xT.isBF16();
  bool rounded = half && (s.normT || s.quant || s.wT != s.xT);
  double tolZ = rounded ? 2 * unitInType(s.xT) : std::ldexp(1.0, -16);
  z.assign(size_t(m * n), 0);
  ez.assign(size_t(m * n), 0);
  for (int64_t r = 0; r < m; ++r) {
    double inv = 1;
    if (s.normT) {
      double ss = 0;
      for (int64_t kk = 0; kk < k; ++kk)
        ss += x->getF(r * k + kk) * x->getF(r * k + kk);
      inv = 1 / std::sqrt(ss / double(k) + s.eps);
    }
    for (int64_t col = 0; col < n; ++col) {
      double acc = 0, abs = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        double xv = x->getF(r * k + kk);
        if (s.normT)
          xv = xv * inv * normW->getF(kk);
        double p = xv * wv[size_t(col * k + kk)];
        acc += p;
        abs += std::fabs(p);
      }
      if (bias) {
        acc += bias->getF(col);
        abs += std::fabs(bias->getF(col));
      }
      z[size_t(r * n + col)] = acc;
      ez[size_t(r * n + col)] = abs * tolZ + 1e-6;
    }
  }
}

void Checker::expect(const char *what, int64_t i, double got, double ref,
                     double tol) {
  double ratio = std::fabs(got - ref) / tol;
  if (!(ratio <= 1.0)) {
    if (bad++ == 0)
      firstBad = llvm::formatv("{0}[{1}] = {2}, expected {3} +- {4}", what, i,
                               got, ref, tol)
                     .str();
    ratio = std::isnan(ratio) ? 1e30 : ratio;
  }
  worst = std::max(worst, ratio);
}

void Checker::compareQkv() {
  int64_t dim = s.headDim, halfD = dim / 2;
  double uc = 2 * unitInType(s.cacheT);
  std::vector<bool> keyWritten(size_t(kc->count)),
      valWritten(size_t(vc->count));
  for (int64_t r = 0; r < m; ++r) {
    int64_t p = c.pos + r;
    for (int64_t hc = 0; hc < s.heads + 2 * s.kvHeads; ++hc) {
      for (int64_t i = 0; i < halfD; ++i) {
        int64_t c0 = hc * dim + 2 * i;
        double z0 = z[size_t(r * n + c0)], z1 = z[size_t(r * n + c0 + 1)];
        double e0 = ez[size_t(r * n + c0)], e1 = ez[size_t(r * n + c0 + 1)];
        float angle = float(p) * s.invFreqs[size_t(i)];
        double sn = std::sin(double(angle)), cs = std::cos(double(angle));
        double o1 = z0 * cs - z1 * sn, o2 = z1 * cs + z0 * sn;
        double tol = e0 + e1 + 1e-6;
        if (hc < s.heads) {
          int64_t base = (r * s.heads + hc) * dim;
          expect("q", base + i, y->getF(base + i), o1,
                 tol + std::fabs(o1) * uy);
          expect("q", base + i + halfD, y->getF(base + i + halfD), o2,
                 tol + std::fabs(o2) * uy);
        } else if (hc < s.heads + s.kvHeads) {
          if (p >= s.capacity)
            continue;
          int64_t base = ((hc - s.heads) * s.capacity + p) * dim;
          expect("key", base + i, kc->getF(base + i), o1,
                 tol + std::fabs(o1) * uc);
          expect("key", base + i + halfD, kc->getF(base + i + halfD), o2,
                 tol + std::fabs(o2) * uc);
          keyWritten[size_t(base + i)] = keyWritten[size_t(base + i + halfD)] =
              true;
        }
      }
      if (hc >= s.heads + s.kvHeads && p < s.capacity) {
        for (int64_t d = 0; d < dim; ++d) {
          int64_t col = hc * dim + d;
          int64_t at = ((hc - s.heads - s.kvHeads) * s.capacity + p) * dim + d;
          double ref = z[size_t(r * n + col)];
          expect("value", at, vc->getF(at), ref,
                 ez[size_t(r * n + col)] + std::fabs(ref) * uc);
          valWritten[size_t(at)] = true;
        }
      }
    }
  }
  for (int64_t i = 0; i < kc->count; ++i) {
    if (!keyWritten[size_t(i)])
      expect("untouched key", i, kc->getF(i), sentinel, 1e-9);
    if (!valWritten[size_t(i)])
      expect("untouched value", i, vc->getF(i), sentinel, 1e-9);
  }
}

void Checker::compareSwiglu() {
  auto silu = [](double v) { return v / (1 + std::exp(-v)); };
  for (int64_t r = 0; r < m; ++r)
    for (int64_t i = 0; i < width; ++i) {
      double g = z[size_t(r * n + 2 * i)], u = z[size_t(r * n + 2 * i + 1)];
      double eg = ez[size_t(r * n + 2 * i)], eu = ez[size_t(r * n + 2 * i + 1)];
      double ref = silu(g) * u;
      double tol = 1.1 * eg * (std::fabs(u) + eu) + std::fabs(silu(g)) * eu +
                   std::fabs(ref) * 1e-5;
      if (res)
        ref += res->getF(r * width + i);
      int64_t at = r * width + i;
      expect("y", at, y->getF(at), ref, tol + std::fabs(ref) * uy + 1e-6);
    }
}

void Checker::comparePlain() {
  for (int64_t r = 0; r < m; ++r)
    for (int64_t col = 0; col < n; ++col) {
      int64_t at = r * n + col;
      double ref = z[size_t(at)];
      if (res)
        ref += res->getF(at);
      expect("y", at, y->getF(at), ref,
             ez[size_t(at)] + std::fabs(ref) * uy + 1e-6);
    }
}

bool Checker::run() {
  makeInputs();
  // A persistent grid as the launcher sizes it on a GPU of --sms SMs.
  std::array<int64_t, 3> grid = launch.grid;
  if (launch.persistent && sms > 0)
    grid[0] = std::clamp<int64_t>(launch.persistent.blocksPerSM * sms,
                                  launch.persistent.minBlocks,
                                  launch.persistent.maxBlocks);
  std::string err = monocard::kernelgen::interpret(launch.func, args, grid,
                                                   launch.block[0]);
  std::string name = launch.func.getName().str();
  if (!err.empty()) {
    llvm::outs() << "FAIL " << name << ": " << err << "\n";
    return false;
  }
  reference();
  uy = 2 * unitInType(s.yT);
  if (s.qkv)
    compareQkv();
  else if (s.swiglu)
    compareSwiglu();
  else
    comparePlain();
  if (bad) {
    llvm::outs() << "FAIL " << name << ": " << bad
                 << " bad values; first: " << firstBad << "\n";
    return false;
  }
  llvm::outs() << "PASS " << name << " grid (" << grid[0] << "," << grid[1]
               << "," << grid[2] << ") worst "
               << llvm::format("%.3f", worst) << " of tolerance\n";
  return true;
}

/// Interprets the kernel of `c` and compares it with the reference.
bool check(const Case &c, KernelLaunch launch, std::mt19937 &rng) {
  return Checker(c, launch, rng).run();
}

} // namespace

int main(int argc, char **argv) {
  llvm::InitLLVM init(argc, argv);
  llvm::cl::ParseCommandLineOptions(argc, argv, "Monocard kernel generator\n");

  DialectRegistry registry;
  monocard::registerAllDialects(registry);
  MLIRContext ctx(registry);
  ctx.loadAllAvailableDialects();

  OpBuilder b(&ctx);
  OwningOpRef<ModuleOp> module = ModuleOp::create(b.getUnknownLoc());
  llvm::Expected<KernelConfig> config =
      KernelConfig::fromOptions(gpuName, gemvTune, gemmTile);
  if (!config) {
    llvm::errs() << "error: " << llvm::toString(config.takeError()) << "\n";
    return 1;
  }
  KernelLibrary lib(*module, std::move(*config));
  std::vector<Case> cases;
  std::vector<KernelLaunch> launches;
  for (const std::string &text : specs) {
    Case c;
    if (!parseSpec(&ctx, text, c))
      return 1;
    cases.push_back(c);
    launches.push_back(lib.fusedLinear(cases.back().spec));
    // fusedLinear builds nothing for a spec the kernels do not support.
    if (!launches.back().func) {
      fail(text + ": " + KernelLibrary::linearUnsupported(c.spec));
      return 1;
    }
  }
  if (failed(verify(*module))) {
    llvm::errs() << "error: the kernel module does not verify\n";
    return 1;
  }

  if (runKernels) {
    std::mt19937 rng(seed);
    bool ok = true;
    for (size_t i = 0; i < cases.size(); ++i)
      ok &= check(cases[i], launches[i], rng);
    return ok ? 0 : 1;
  }
  if (emit == "launches") {
    for (KernelLaunch l : launches) {
      llvm::outs() << l.func.getName() << " grid (" << l.grid[0] << ","
             << l.grid[1] << "," << l.grid[2] << ") block (" << l.block[0]
             << "," << l.block[1] << "," << l.block[2] << ")";
      if (l.persistent)
        llvm::outs() << " persistent " << l.persistent.blocksPerSM << "/SM "
                     << l.persistent.minBlocks << ".."
                     << l.persistent.maxBlocks;
      llvm::outs() << "\n";
    }
    return 0;
  }
  if (emit == "gpu") {
    module->print(llvm::outs());
    return 0;
  }
  if (emit == "ptx") {
    PassManager pm(&ctx);
    monocard::addCudaStage(pm, monocard::CudaStage::Ptx);
    if (failed(pm.run(*module))) {
      llvm::errs() << "error: the Ptx stage failed\n";
      return 1;
    }
    llvm::Expected<std::string> ptx = monocard::extractPtx(*module);
    if (!ptx) {
      llvm::errs() << "error: " << llvm::toString(ptx.takeError()) << "\n";
      return 1;
    }
    llvm::outs() << *ptx;
    return 0;
  }
  llvm::errs() << "error: --emit must be gpu, launches or ptx\n";
  return 1;
}
