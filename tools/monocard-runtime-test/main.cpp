//===- main.cpp - Test driver for the launcher library --------------------===//
//
//   monocard-runtime-test unit [ROOM]                built-in unit tests
//   monocard-runtime-test pack INFO.json DIR OUT     packWeights
//   monocard-runtime-test open INFO.json WEIGHTS     WeightsFile::open
//   monocard-runtime-test verify INFO.json WEIGHTS   open, then verify
//   monocard-runtime-test ckpt DIR                   list a checkpoint
//   monocard-runtime-test cuda INFO.json PTX DRIVER  CudaRunner::init over
//                                                    DRIVER, zero weights
//
// INFO.json is a monocard_model_info text. Errors print as the launcher
// prints them ("error: ..." on stderr, exit 1), so lit tests can check the
// exact messages users see without a compiled model.
//
//===----------------------------------------------------------------------===//

#include "monocard/Runtime/Cuda/CudaRunner.h"
#include "monocard/Runtime/Program/ModelInfo.h"
#include "monocard/Runtime/Weights/Packer.h"
#include "monocard/Runtime/Weights/Safetensors.h"
#include "monocard/Runtime/Weights/WeightsFile.h"

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

using namespace monocard;

int runUnitTests(const std::string &Room); // UnitTests.cpp

static int fail(const std::string &Message) {
  std::fprintf(stderr, "error: %s\n", Message.c_str());
  return 1;
}

static bool loadInfo(const char *Path, ModelInfo &Info, std::string &Error) {
  std::ifstream F(Path, std::ios::binary);
  if (!F) {
    Error = std::string("cannot read '") + Path + "'";
    return false;
  }
  std::stringstream S;
  S << F.rdbuf();
  return parseModelInfo(S.str(), Info, Error);
}

int main(int Argc, char **Argv) {
  std::string Cmd = Argc > 1 ? Argv[1] : "";
  std::string Error;
  if (Cmd == "unit" && (Argc == 2 || Argc == 3))
    return runUnitTests(Argc == 3 ? Argv[2] : "");
  if (Cmd == "ckpt" && Argc == 3) {
    Checkpoint C;
    if (!C.open(Argv[2], Error))
      return fail(Error);
    for (const auto &[Name, T] : C.tensors())
      std::printf("%s %s %s\n", Name.c_str(), T.DType.c_str(),
                  formatShape(T.Shape).c_str());
    return 0;
  }
  if ((Cmd == "pack" && Argc == 5) ||
      ((Cmd == "open" || Cmd == "verify") && Argc == 4)) {
    ModelInfo Info;
    if (!loadInfo(Argv[2], Info, Error))
      return fail(Error);
    if (Cmd == "open" || Cmd == "verify") {
      WeightsFile W;
      if (!W.open(Argv[3], Info, Error, "PROGRAM"))
        return fail(Error);
      uint64_t Checked = 0;
      if (Cmd == "verify") {
        if (!W.verify(Checked, Error))
          return fail(Error);
        std::printf("weights OK (%llu bytes, checksum %s)\n",
                    static_cast<unsigned long long>(W.fileSize()),
                    formatFingerprint(W.header().Checksum).c_str());
        return 0;
      }
      std::printf("ok: %llu data bytes, %zu tokenizer bytes\n",
                  static_cast<unsigned long long>(W.dataBytes()),
                  W.tokenizerJson().size());
      return 0;
    }
    PackReport R;
    if (!packWeights(Info, Argv[3], Argv[4], Error, &R))
      return fail(Error);
    std::printf("packed %llu tensors, %llu bytes, %llu tokenizer bytes\n",
                static_cast<unsigned long long>(R.Tensors),
                static_cast<unsigned long long>(R.FileBytes),
                static_cast<unsigned long long>(R.TokenizerBytes));
    return 0;
  }
  if (Cmd == "cuda" && Argc == 5) {
    ModelInfo Info;
    if (!loadInfo(Argv[2], Info, Error))
      return fail(Error);
    std::ifstream F(Argv[3], std::ios::binary);
    if (!F)
      return fail(std::string("cannot read '") + Argv[3] + "'");
    std::stringstream Ptx;
    Ptx << F.rdbuf();
    std::string PtxText = Ptx.str();
    CudaProgram Program;
    Program.Ptx = PtxText;
    Program.DriverLibrary = Argv[4];
    std::vector<unsigned char> Weights(Info.WeightsBytes);
    CudaRunner Runner;
    if (!Runner.init(Info, Weights.data(), Program, Error))
      return fail(Error);
    std::printf("ok: module %s, %zu prefill launches, %zu decode launches\n",
                Runner.device().moduleSource().c_str(),
                Info.Cuda.Prefill.size(), Info.Cuda.Decode.size());
    // Grids sized from the GPU at start-up.
    for (size_t I = 0; I < Info.Cuda.Decode.size(); ++I)
      if (Info.Cuda.Decode[I].Persistent.BlocksPerSM)
        std::printf("decode[%zu]: persistent grid %u on %d SMs\n", I,
                    Runner.decodeGrid(I)[0],
                    Runner.device().props().MultiprocessorCount);
    return 0;
  }
  std::fprintf(stderr,
               "usage: monocard-runtime-test unit [ROOM] | pack INFO DIR OUT"
               " | open INFO WEIGHTS | verify INFO WEIGHTS"
               " | ckpt DIR"
               " | cuda INFO PTX DRIVER\n");
  return 2;
}
