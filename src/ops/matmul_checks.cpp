#include "ops/matmul_checks.h"

#include <string>

#include "core/error.h"

namespace llmr {
namespace {

// A 2-D host view with contiguous columns (one block per inner stride) and non-overlapping rows.
void check_matrix(const Tensor& t, const char* op, const char* what) {
  check(t.device == Device::Host, std::string(op) + ": " + what + " " + t.describe() + " is not in host memory");
  check(t.ndim == 2, std::string(op) + ": " + what + " must be 2-D, got " + t.describe());
  check(t.data != nullptr || t.numel() == 0, std::string(op) + ": " + what + " " + t.describe() + " has no data");
  check(t.stride[1] == int64_t(info(t.type).block_bytes),
        std::string(op) + ": " + what + " " + t.describe() + " has non-contiguous columns");
  check(t.stride[0] >= int64_t(row_bytes(t.type, t.shape[1])),
        std::string(op) + ": " + what + " " + t.describe() + " has rows that overlap");
}

}  // namespace

bool is_weight_type(DType t) {
  switch (t) {
    case DType::F32: case DType::F16: case DType::BF16: case DType::Q8_0: case DType::Q4_0:
    case DType::Q4_1: case DType::Q4_K: case DType::Q5_K: case DType::Q6_K: return true;
    default: return false;
  }
}

void check_matmul_args(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  const std::string shapes = " (x " + x.describe() + ", w " + w.describe() + ", y " + y.describe() +
                             (bias ? ", bias " + bias->describe() : std::string()) + ")";
  check(x.type == DType::F32, "matmul: x must be f32" + shapes);
  check(y.type == DType::F32, "matmul: y must be f32" + shapes);
  check(is_weight_type(w.type) || w.type == DType::Q8_0R || w.type == DType::Q4_0R || w.type == DType::Q4_KR ||
            w.type == DType::Q4_0C || w.type == DType::Q4_KC,
        "matmul: w has type " + std::string(name(w.type)) + ", which is not a weight type" + shapes);
  check(x.ndim == 2 && w.ndim == 2 && y.ndim == 2, "matmul: x, w and y must be 2-D" + shapes);
  check(w.shape[1] % info(w.type).block_elems == 0,
        "matmul: w's row length " + std::to_string(w.shape[1]) + " is not a whole number of " +
            name(w.type) + " blocks" + shapes);
  check(x.shape[1] == w.shape[1], "matmul: x's columns differ from w's" + shapes);
  check(y.shape[0] == x.shape[0], "matmul: y's rows differ from x's" + shapes);
  check(y.shape[1] == w.shape[0], "matmul: y's columns differ from w's rows" + shapes);
  check_matrix(x, "matmul", "x");
  check_matrix(w, "matmul", "w");
  check_matrix(y, "matmul", "y");
  if (bias) {
    check(bias->type == DType::F32, "matmul: bias must be f32" + shapes);
    check(bias->numel() == w.shape[0] && bias->cols() == w.shape[0],
          "matmul: bias must have w's row count of elements" + shapes);
    check(bias->device == Device::Host && bias->data, "matmul: bias is not in host memory" + shapes);
  }
}

void check_embedding_args(const Tensor& table, std::span<const int32_t> ids, const Tensor& out) {
  const std::string shapes = " (table " + table.describe() + ", out " + out.describe() + ", " +
                             std::to_string(ids.size()) + " ids)";
  check(is_weight_type(table.type), "embedding: table has type " + std::string(name(table.type)) +
                                        ", which is not a weight type" + shapes);
  check(out.type == DType::F32, "embedding: out must be f32" + shapes);
  check(table.ndim == 2 && out.ndim == 2, "embedding: table and out must be 2-D" + shapes);
  check(table.shape[1] % info(table.type).block_elems == 0,
        "embedding: table's row length is not a whole number of blocks" + shapes);
  check(out.shape[0] == int64_t(ids.size()), "embedding: out must have one row per id" + shapes);
  check(out.shape[1] == table.shape[1], "embedding: out's columns differ from table's" + shapes);
  check_matrix(table, "embedding", "table");
  check_matrix(out, "embedding", "out");
  for (size_t t = 0; t < ids.size(); ++t)
    check(ids[t] >= 0 && ids[t] < table.shape[0],
          "embedding: token id " + std::to_string(ids[t]) + " at position " + std::to_string(t) +
              " is outside the vocabulary of " + std::to_string(table.shape[0]) + shapes);
}

}  // namespace llmr
