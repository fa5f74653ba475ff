// CudaBackend::sample: sample_kernel.cuh's kernel, up to 128 rows per launch (their settings travel as
// a kernel parameter), and one int per row back to the host.
#include <algorithm>

#include "backend/cuda/cuda_backend_impl.h"
#include "backend/cuda/cuda_check.h"
#include "backend/cuda/device_tensors.h"
#include "backend/cuda/kernel_status.h"
#include "backend/cuda/sample_kernel.cuh"
#include "ops/sample_row.h"

namespace llmr {

void CudaBackend::sample(const Tensor& logits, std::span<const SampleRow> rows, std::span<int32_t> out) {
  using namespace cuda_detail;
  using namespace cuda_sample;
  op_checks::sample(logits, rows, out);
  check_on_device("sample", {{"logits", &logits}});
  const int64_t n = logits.cols();
  // p sums (about 1, plus n float roundings) must stay below 2^64 in 2^-62 fixed point.
  check(n <= (int64_t(1) << 24), "sample: logits " + logits.describe() + " have too many tokens for the CUDA kernel");
  if (rows.empty()) return;
  cuda_ops::StreamScratch ids(rows.size() * sizeof(int32_t), stream(), "sample");
  for (size_t begin = 0; begin < rows.size(); begin += kMaxRowsPerLaunch) {
    const size_t count = std::min(rows.size() - begin, size_t(kMaxRowsPerLaunch));
    RowSettings settings{};
    for (size_t r = 0; r < count; ++r) settings.rows[r] = rows[begin + r];
    const char* first_row = static_cast<const char*>(logits.slice_rows(int64_t(begin), 1).data);
    sample_rows<<<unsigned(count), kThreads, 0, stream()>>>(first_row, logits.row_stride(), int(n), settings,
                                                            ids.as<int32_t>() + begin);
    check_launch("sample", "sample_rows");
  }
  copy_to_host(out.data(), ids.as<int32_t>(), rows.size() * sizeof(int32_t), "sample");
}

}  // namespace llmr
