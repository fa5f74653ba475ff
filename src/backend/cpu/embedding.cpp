// CpuBackend::embedding: rows dequantized in parallel across tokens.
#include "backend/cpu/cpu_backend.h"
#include "ops/matmul_checks.h"
#include "tensor/quant.h"

namespace llmr {

void CpuBackend::embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) {
  check_embedding_args(table, ids, out);
  pool_.parallel_for(int64_t(ids.size()), 8, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t)
      dequantize_row(table.type, table.row(ids[size_t(t)]), out.row<float>(t), table.shape[1]);
  });
}

}  // namespace llmr
