#include "tensor/q8_0_repack.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace llmr {

using quant::BlockQ8_0;

bool can_repack_q8_0(const Tensor& w) {
  return w.type == DType::Q8_0 && w.ndim == 2 && w.shape[0] % kQ8RRows == 0 && w.shape[1] % 32 == 0 &&
         w.is_contiguous();
}

void repack_q8_0(const Tensor& src, const Tensor& dst) {
  check(can_repack_q8_0(src), "repack_q8_0: source " + src.describe() +
                                  " is not a contiguous q8_0 matrix with rows a multiple of 16");
  check(dst.type == DType::Q8_0R && dst.ndim == 2 && dst.shape[0] == src.shape[0] &&
            dst.shape[1] == src.shape[1] && dst.is_contiguous(),
        "repack_q8_0: destination " + dst.describe() + " is not a contiguous q8_0r matrix of " + src.describe());
  const int64_t nb = src.shape[1] / 32, groups = src.shape[0] / kQ8RRows;
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* out = static_cast<uint8_t*>(dst.data) + size_t(g * nb) * kQ8RBlockBytes;
    for (int64_t c = 0; c < nb; ++c, out += kQ8RBlockBytes) {
      for (int r = 0; r < kQ8RRows; ++r) {
        const BlockQ8_0& b = static_cast<const BlockQ8_0*>(src.row(g * kQ8RRows + r))[c];
        std::memcpy(out + 2 * r, &b.d, 2);
        for (int k = 0; k < 8; ++k) {  // 4 levels at a time, each shifted to unsigned
          uint32_t v;
          std::memcpy(&v, b.qs + 4 * k, 4);
          v ^= 0x80808080u;
          std::memcpy(out + 2 * kQ8RRows + 64 * k + 4 * r, &v, 4);
        }
      }
    }
  }
}

void unpack_q8_0r_row(const Tensor& w, int64_t r, BlockQ8_0* out) {
  check(w.type == DType::Q8_0R && w.ndim == 2 && r >= 0 && r < w.shape[0] && w.shape[0] % kQ8RRows == 0,
        "unpack_q8_0r_row: row " + std::to_string(r) + " of " + w.describe());
  const int64_t nb = w.shape[1] / 32, ri = r % kQ8RRows;
  const uint8_t* in = static_cast<const uint8_t*>(w.row(r - ri));  // the group's first row
  for (int64_t c = 0; c < nb; ++c, in += kQ8RBlockBytes) {
    std::memcpy(&out[c].d, in + 2 * ri, 2);
    for (int i = 0; i < 32; ++i) out[c].qs[i] = int8_t(in[32 + 64 * (i / 4) + 4 * ri + i % 4] ^ 0x80u);
  }
}

}  // namespace llmr
