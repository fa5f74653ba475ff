// The oracle matmul: dequantize each weight row with dequantize_row, accumulate in double.
#include <vector>

#include "ops/matmul_checks.h"
#include "ops/reference/reference_backend.h"
#include "tensor/q4_0_repack.h"
#include "tensor/q4_k_repack.h"
#include "tensor/q8_0_repack.h"
#include "tensor/quant.h"
#include "tensor/unit_records.h"

namespace llmr {

void ReferenceBackend::matmul(const Tensor& x, const Tensor& w, const Tensor* bias, const Tensor& y) {
  check_matmul_args(x, w, bias, y);
  const int64_t T = x.shape[0], n_in = x.shape[1], n_out = w.shape[0];
  std::vector<float> wrow(static_cast<size_t>(n_in));
  std::vector<quant::BlockQ8_0> plain(w.type == DType::Q8_0R ? size_t(n_in / 32) : 0);  // a Q8_0R row unpacked
  std::vector<quant::BlockQ4_0> plain4(w.type == DType::Q4_0R ? size_t(n_in / 32) : 0);  // a Q4_0R row unpacked
  std::vector<quant::BlockQ4_K> plain4k(w.type == DType::Q4_KR ? size_t(n_in / 256) : 0);  // a Q4_KR row unpacked
  const bool records = w.type == DType::Q4_0C || w.type == DType::Q4_KC;
  std::vector<uint8_t> plain_row(records ? row_bytes(w.type, n_in) : 0);  // a Q4_0C / Q4_KC row as q4_0 / q4_k
  for (int64_t o = 0; o < n_out; ++o) {
    if (w.type == DType::Q8_0R) {
      unpack_q8_0r_row(w, o, plain.data());
      dequantize_row(DType::Q8_0, plain.data(), wrow.data(), n_in);
    } else if (w.type == DType::Q4_0R) {
      unpack_q4_0r_row(w, o, plain4.data());
      dequantize_row(DType::Q4_0, plain4.data(), wrow.data(), n_in);
    } else if (w.type == DType::Q4_KR) {
      unpack_q4_kr_row(w, o, plain4k.data());
      dequantize_row(DType::Q4_K, plain4k.data(), wrow.data(), n_in);
    } else if (records) {
      unit_records_row_to_plain(w, o, plain_row.data());
      dequantize_row(unit_records_plain_type(w.type), plain_row.data(), wrow.data(), n_in);
    } else {
      dequantize_row(w.type, w.row(o), wrow.data(), n_in);
    }
    const double b = bias ? double(static_cast<const float*>(bias->data)[o]) : 0.0;
    for (int64_t t = 0; t < T; ++t) {
      const float* xr = x.row<float>(t);
      double acc = b;
      for (int64_t k = 0; k < n_in; ++k) acc += double(xr[k]) * double(wrow[size_t(k)]);
      y.row<float>(t)[o] = float(acc);
    }
  }
}

}  // namespace llmr
