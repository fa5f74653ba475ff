// CudaBackend::add: out = a + b, one f32 add per element (bit-exact with every other backend).
#include "backend/cuda/elementwise.cuh"
#include "ops/op_checks.h"

namespace llmr {
namespace {
struct AddOp {
  __device__ __forceinline__ float operator()(float a, float b) const { return __fadd_rn(a, b); }
};
}  // namespace

void CudaBackend::add(const Tensor& a, const Tensor& b, const Tensor& out) {
  op_checks::add(a, b, out);
  cuda_detail::check_on_device("add", {{"a", &a}, {"b", &b}, {"out", &out}});
  cuda_detail::launch_binary(*this, a, b, out, AddOp{}, "add");
}

}  // namespace llmr
