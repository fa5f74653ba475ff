#include "tensor/q4_k_repack.h"

#include <cstring>
#include <string>

#include "core/error.h"

namespace llmr {

using quant::BlockQ4_K;

namespace {
constexpr int R = kQ4KRRows;
// Byte offsets inside one super-block of 16 rows (see the header).
constexpr size_t kD = 0, kDmin = 2 * R, kScales = 4 * R, kQs = 4 * R + 12 * R;
}  // namespace

bool can_repack_q4_k(const Tensor& w) {
  return w.type == DType::Q4_K && w.ndim == 2 && w.shape[0] % kQ4KRRows == 0 && w.shape[1] % 256 == 0 &&
         w.is_contiguous();
}

void repack_q4_k(const Tensor& src, const Tensor& dst) {
  check(can_repack_q4_k(src), "repack_q4_k: source " + src.describe() +
                                  " is not a contiguous q4_k matrix with rows a multiple of 16");
  check(dst.type == DType::Q4_KR && dst.ndim == 2 && dst.shape[0] == src.shape[0] &&
            dst.shape[1] == src.shape[1] && dst.is_contiguous(),
        "repack_q4_k: destination " + dst.describe() + " is not a contiguous q4_kr matrix of " + src.describe());
  const int64_t nb = src.shape[1] / 256, groups = src.shape[0] / R;
  for (int64_t g = 0; g < groups; ++g) {
    uint8_t* out = static_cast<uint8_t*>(dst.data) + size_t(g * nb) * kQ4KRBlockBytes;
    for (int64_t c = 0; c < nb; ++c, out += kQ4KRBlockBytes) {
      for (int r = 0; r < R; ++r) {
        const BlockQ4_K& b = static_cast<const BlockQ4_K*>(src.row(g * R + r))[c];
        std::memcpy(out + kD + 2 * r, &b.d, 2);
        std::memcpy(out + kDmin + 2 * r, &b.dmin, 2);
        for (int i = 0; i < 3; ++i) std::memcpy(out + kScales + 64 * i + 4 * r, b.scales + 4 * i, 4);
        for (int p = 0; p < 4; ++p)
          for (int k = 0; k < 8; ++k) std::memcpy(out + kQs + 512 * p + 64 * k + 4 * r, b.qs + 32 * p + 4 * k, 4);
      }
    }
  }
}

void unpack_q4_kr_row(const Tensor& w, int64_t r, BlockQ4_K* out) {
  check(w.type == DType::Q4_KR && w.ndim == 2 && r >= 0 && r < w.shape[0] && w.shape[0] % R == 0,
        "unpack_q4_kr_row: row " + std::to_string(r) + " of " + w.describe());
  const int64_t nb = w.shape[1] / 256, ri = r % R;
  const uint8_t* in = static_cast<const uint8_t*>(w.row(r - ri));  // the group's first row
  for (int64_t c = 0; c < nb; ++c, in += kQ4KRBlockBytes) {
    BlockQ4_K& b = out[c];
    std::memcpy(&b.d, in + kD + 2 * ri, 2);
    std::memcpy(&b.dmin, in + kDmin + 2 * ri, 2);
    for (int i = 0; i < 3; ++i) std::memcpy(b.scales + 4 * i, in + kScales + 64 * i + 4 * ri, 4);
    for (int p = 0; p < 4; ++p)
      for (int k = 0; k < 8; ++k) std::memcpy(b.qs + 32 * p + 4 * k, in + kQs + 512 * p + 64 * k + 4 * ri, 4);
  }
}

}  // namespace llmr
