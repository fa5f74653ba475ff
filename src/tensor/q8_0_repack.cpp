#include "tensor/q8_0_repack.h"

#include <cstring>

#include "tensor/repack_groups.h"

namespace llmr {

using quant::BlockQ8_0;

static_assert(kQ8RRows == kRepackRows);

bool can_repack_q8_0(const Tensor& w) { return can_repack_groups(w, DType::Q8_0, 32); }

void repack_q8_0(const Tensor& src, const Tensor& dst) {
  repack_groups<BlockQ8_0>(src, dst, DType::Q8_0, DType::Q8_0R, 32, [](uint8_t* out, const BlockQ8_0& b, int r) {
    std::memcpy(out + 2 * r, &b.d, 2);
    for (int k = 0; k < 8; ++k) {  // 4 levels at a time, each shifted to unsigned
      uint32_t v;
      std::memcpy(&v, b.qs + 4 * k, 4);
      v ^= 0x80808080u;
      std::memcpy(out + 2 * kQ8RRows + 64 * k + 4 * r, &v, 4);
    }
  });
}

void unpack_q8_0r_row(const Tensor& w, int64_t r, BlockQ8_0* out) {
  unpack_group_row(w, DType::Q8_0R, 32, r, out, [](const uint8_t* in, int ri, BlockQ8_0& b) {
    std::memcpy(&b.d, in + 2 * ri, 2);
    for (int i = 0; i < 32; ++i) b.qs[i] = int8_t(in[32 + 64 * (i / 4) + 4 * ri + i % 4] ^ 0x80u);
  });
}

}  // namespace llmr
