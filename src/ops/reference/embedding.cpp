// The oracle embedding: the row of each id, dequantized.
#include "ops/matmul_checks.h"
#include "ops/reference/reference_backend.h"
#include "tensor/quant.h"

namespace llmr {

void ReferenceBackend::embedding(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) {
  check_embedding_args(table, ids, out);
  for (size_t t = 0; t < ids.size(); ++t)
    dequantize_row(table.type, table.row(ids[t]), out.row<float>(int64_t(t)), table.shape[1]);
}

}  // namespace llmr
