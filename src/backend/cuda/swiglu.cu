// CudaBackend::swiglu: out = silu(gate) * up = gate / (1 + exp(-gate)) * up, in f32 with the accurate
// expf (a very negative gate gives exp = inf and silu = -0, as in float on the host).
#include "backend/cuda/elementwise.cuh"
#include "backend/cuda/silu_mul.cuh"
#include "ops/op_checks.h"

namespace llmr {
namespace {
struct SwigluOp {
  __device__ __forceinline__ float operator()(float g, float u) const { return cuda_ops::silu_mul(g, u); }
};
}  // namespace

void CudaBackend::swiglu(const Tensor& gate, const Tensor& up, const Tensor& out) {
  op_checks::swiglu(gate, up, out);
  cuda_detail::check_on_device("swiglu", {{"gate", &gate}, {"up", &up}, {"out", &out}});
  cuda_detail::launch_binary(*this, gate, up, out, SwigluOp{}, "swiglu");
}

}  // namespace llmr
