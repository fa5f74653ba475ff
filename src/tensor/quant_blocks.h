#pragma once
// Block layouts of the quantized weight types, byte-for-byte as llama.cpp's ggml-common.h stores
// them in GGUF files. Half-precision fields are raw IEEE half bits.
#include <cstdint>

namespace llmr::quant {

constexpr int kQK = 32;    // elements per block of q8_0, q4_0, q4_1
constexpr int kQKK = 256;  // elements per super-block of the k-quants

// value = qs[i] * d
struct BlockQ8_0 {
  uint16_t d;
  int8_t qs[kQK];
};
// element i < 16 in the low nibble of qs[i], element 16 + i in its high nibble; value = (q - 8) * d
struct BlockQ4_0 {
  uint16_t d;
  uint8_t qs[kQK / 2];
};
// same nibble order as q4_0; value = q * d + m
struct BlockQ4_1 {
  uint16_t d;
  uint16_t m;
  uint8_t qs[kQK / 2];
};
// 8 sub-blocks of 32 with 6-bit scale and min packed in scales[12] (see scale_min_k4);
// qs[32*c + l]: low nibble = element 64c + l, high nibble = element 64c + 32 + l;
// value = d * scale * q - dmin * min
struct BlockQ4_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qs[kQKK / 2];
};
// as q4_k plus a fifth bit: bit (2c) of qh[l] for element 64c + l, bit (2c+1) for 64c + 32 + l
struct BlockQ5_K {
  uint16_t d;
  uint16_t dmin;
  uint8_t scales[12];
  uint8_t qh[kQKK / 8];
  uint8_t qs[kQKK / 2];
};
// 16 sub-blocks of 16 with int8 scales; per half h (128 elements) and l < 32:
// element 128h + 32k + l has low 4 bits in ql[64h + l + 32(k&1)] (low nibble for k<2, high for k>=2)
// and high 2 bits at bit 2k of qh[32h + l]; value = d * scale * (q - 32)
struct BlockQ6_K {
  uint8_t ql[kQKK / 2];
  uint8_t qh[kQKK / 4];
  int8_t scales[kQKK / 16];
  uint16_t d;
};

static_assert(sizeof(BlockQ8_0) == 34 && sizeof(BlockQ4_0) == 18 && sizeof(BlockQ4_1) == 20);
static_assert(sizeof(BlockQ4_K) == 144 && sizeof(BlockQ5_K) == 176 && sizeof(BlockQ6_K) == 210);

// Sub-block j's (0..7) 6-bit scale and min from the 12 packed bytes of q4_k / q5_k:
// j < 4: low 6 bits of bytes j and j+4; j >= 4: low/high nibble of byte j+4 plus the top two
// bits of bytes j-4 and j.
inline void scale_min_k4(int j, const uint8_t* s, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = uint8_t((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4));
    min = uint8_t((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

}  // namespace llmr::quant
