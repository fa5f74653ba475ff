#pragma once
// Which tensor-parallel degrees this machine can run.
#include <functional>
#include <span>
#include <vector>

#include "runtime/generator.h"
#include "runtime/sampler.h"
#include "runtime/tp_transformer.h"

namespace llmr {

// The degree a command line asked for, checked against this machine: 1 runs the sharded path on
// the chosen backend; more needs that many GPUs and the NCCL implementation, and until that exists
// every degree above 1 is refused with the reason. Throws Error naming the flag.
void check_tp_degree_available(int degree, const std::string& device);

}  // namespace llmr
