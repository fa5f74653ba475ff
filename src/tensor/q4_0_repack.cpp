#include "tensor/q4_0_repack.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace llmr {

using quant::BlockQ4_0;

bool can_repack_q4_0(const Tensor& w) {
  return w.type == DType::Q4_0 && w.ndim == 2 && w.shape[0] % kQ4RRows == 0 && w.shape[1] % 32 == 0 &&
         w.is_contiguous();
}

void repack_q4_0(const Tensor& src, const Tensor& dst) {
  check(can_repack_q4_0(src), "repack_q4_0: source " + src.describe() +
                                  " is not a contiguous q4_0 matrix with rows a multiple of 16");
  check(dst.type == DType::Q4_0R && dst.ndim == 2 && dst.shape[0] == src.shape[0] &&
            dst.shape[1] == src.shape[1] && dst.is_contiguous(),
        "repack_q4_0: destination " + dst.describe() + " is not a contiguous q4_0r matrix of " + src.describe());
  const int64_t nb = src.shape[1] / 32, groups = src.shape[0] / kQ4RRows;
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* out = static_cast<uint8_t*>(dst.data) + size_t(g * nb) * kQ4RBlockBytes;
    for (int64_t c = 0; c < nb; ++c, out += kQ4RBlockBytes) {
      for (int r = 0; r < kQ4RRows; ++r) {
        const BlockQ4_0& b = static_cast<const BlockQ4_0*>(src.row(g * kQ4RRows + r))[c];
        std::memcpy(out + 2 * r, &b.d, 2);
        for (int m = 0; m < 4; ++m) std::memcpy(out + 2 * kQ4RRows + 64 * m + 4 * r, b.qs + 4 * m, 4);
      }
    }
  }
}

void unpack_q4_0r_row(const Tensor& w, int64_t r, BlockQ4_0* out) {
  check(w.type == DType::Q4_0R && w.ndim == 2 && r >= 0 && r < w.shape[0] && w.shape[0] % kQ4RRows == 0,
        "unpack_q4_0r_row: row " + std::to_string(r) + " of " + w.describe());
  const int64_t nb = w.shape[1] / 32, ri = r % kQ4RRows;
  const uint8_t* in = static_cast<const uint8_t*>(w.row(r - ri));  // the group's first row
  for (int64_t c = 0; c < nb; ++c, in += kQ4RBlockBytes) {
    std::memcpy(&out[c].d, in + 2 * ri, 2);
    for (int m = 0; m < 4; ++m) std::memcpy(out[c].qs + 4 * m, in + 2 * kQ4RRows + 64 * m + 4 * ri, 4);
  }
}

}  // namespace llmr
