#include "tensor/q4_0_repack.h"

#include <cstring>

#include "tensor/repack_groups.h"

namespace llmr {

using quant::BlockQ4_0;

static_assert(kQ4RRows == kRepackRows);

bool can_repack_q4_0(const Tensor& w) { return can_repack_groups(w, DType::Q4_0, 32); }

void repack_q4_0(const Tensor& src, const Tensor& dst) {
  repack_groups<BlockQ4_0>(src, dst, DType::Q4_0, DType::Q4_0R, 32, [](uint8_t* out, const BlockQ4_0& b, int r) {
    std::memcpy(out + 2 * r, &b.d, 2);
    for (int m = 0; m < 4; ++m) std::memcpy(out + 2 * kQ4RRows + 64 * m + 4 * r, b.qs + 4 * m, 4);
  });
}

void unpack_q4_0r_row(const Tensor& w, int64_t r, BlockQ4_0* out) {
  unpack_group_row(w, DType::Q4_0R, 32, r, out, [](const uint8_t* in, int ri, BlockQ4_0& b) {
    std::memcpy(&b.d, in + 2 * ri, 2);
    for (int m = 0; m < 4; ++m) std::memcpy(b.qs + 4 * m, in + 2 * kQ4RRows + 64 * m + 4 * ri, 4);
  });
}

}  // namespace llmr
