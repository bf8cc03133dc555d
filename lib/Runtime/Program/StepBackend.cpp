//===- StepBackend.cpp - Defaults for backends without a device sampler ---===//

#include "monocard/Runtime/Program/StepBackend.h"

using namespace monocard;

StepBackend::~StepBackend() = default;

void StepBackend::setDeviceSampling(float, uint64_t) {}

bool StepBackend::sampledToken(int32_t &, std::string &Error) {
  Error = "this target cannot sample on the device";
  return false;
}

bool StepBackend::synchronize(std::string &) { return true; }

std::vector<BenchFact> StepBackend::benchFacts() { return {}; }
