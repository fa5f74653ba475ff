#include "runtime/tp_degree.h"

#include "runtime/tp_nccl.h"

namespace llmr {

void check_tp_degree_available(int degree, const std::string& device) {
  check(degree >= 1, "--tp " + std::to_string(degree) + ": the tensor-parallel degree must be at least 1");
  if (degree == 1) return;
  const int gpus = visible_gpu_count();
  check(gpus >= degree, "--tp " + std::to_string(degree) + " needs " + std::to_string(degree) +
                            " GPUs; this machine has " + std::to_string(gpus));
  check(device == "cuda", "--tp " + std::to_string(degree) + " splits the model over " + std::to_string(degree) +
                              " GPUs: use --device cuda (on --device " + device + " only --tp 1 runs)");
  throw Error("--tp " + std::to_string(degree) +
              ": tensor parallelism over several GPUs needs the NCCL all-reduce, which is not implemented yet "
              "(see src/runtime/tp_nccl.h); --tp 1 runs the sharded path on one device");
}

}  // namespace llmr
