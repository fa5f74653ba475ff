#include "tensor/q4_k_repack.h"

#include <cstring>

#include "tensor/repack_groups.h"

namespace llmr {

using quant::BlockQ4_K;

static_assert(kQ4KRRows == kRepackRows);

namespace {
constexpr int R = kQ4KRRows;
// Byte offsets inside one super-block of 16 rows (see the header).
constexpr size_t kD = 0, kDmin = 2 * R, kScales = 4 * R, kQs = 4 * R + 12 * R;
}  // namespace

bool can_repack_q4_k(const Tensor& w) { return can_repack_groups(w, DType::Q4_K, 256); }

void repack_q4_k(const Tensor& src, const Tensor& dst) {
  repack_groups<BlockQ4_K>(src, dst, DType::Q4_K, DType::Q4_KR, 256, [](uint8_t* out, const BlockQ4_K& b, int r) {
    std::memcpy(out + kD + 2 * r, &b.d, 2);
    std::memcpy(out + kDmin + 2 * r, &b.dmin, 2);
    for (int i = 0; i < 3; ++i) std::memcpy(out + kScales + 64 * i + 4 * r, b.scales + 4 * i, 4);
    for (int p = 0; p < 4; ++p)
      for (int k = 0; k < 8; ++k) std::memcpy(out + kQs + 512 * p + 64 * k + 4 * r, b.qs + 32 * p + 4 * k, 4);
  });
}

void unpack_q4_kr_row(const Tensor& w, int64_t r, BlockQ4_K* out) {
  unpack_group_row(w, DType::Q4_KR, 256, r, out, [](const uint8_t* in, int ri, BlockQ4_K& b) {
    std::memcpy(&b.d, in + kD + 2 * ri, 2);
    std::memcpy(&b.dmin, in + kDmin + 2 * ri, 2);
    for (int i = 0; i < 3; ++i) std::memcpy(b.scales + 4 * i, in + kScales + 64 * i + 4 * ri, 4);
    for (int p = 0; p < 4; ++p)
      for (int k = 0; k < 8; ++k) std::memcpy(b.qs + 32 * p + 4 * k, in + kQs + 512 * p + 64 * k + 4 * ri, 4);
  });
}

}  // namespace llmr
