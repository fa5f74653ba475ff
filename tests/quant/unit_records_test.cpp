// The CUDA backend's regrouped layouts (Q4_0C, Q4_KC: tensor/unit_records.h), checked on the host: a
// regrouped row gives the plain row back byte for byte, the bytes really moved, files and the command
// line cannot name the layouts, what cannot be regrouped is refused, and the reference matmul over a
// regrouped matrix equals the plain one bit for bit (the CPU backend refuses it). (The CUDA kernels over them:
// tests/cuda/unit_records_cuda_test.cpp.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "core/error.h"
#include "format/gguf_writer.h"
#include "ops/reference/reference_backend.h"
#include "tensor/quant.h"
#include "tensor/unit_records.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

class UnitRecords : public ::testing::TestWithParam<DType> {};

HostBuffer random_matrix(DType type, int64_t out, int64_t in) {
  HostBuffer w(type, {out, in});
  for (int64_t r = 0; r < out; ++r) {
    const auto v = random_floats(size_t(in), -1.f, 1.f);
    quantize_row(type, v.data(), w.tensor().row(r), in);
  }
  return w;
}

TEST_P(UnitRecords, RowsComeBackByteForByte) {
  const DType plain = GetParam(), packed = unit_records_type(plain);
  const int64_t out = 13, in = 1280;  // 5 records a row
  const HostBuffer w = random_matrix(plain, out, in);
  HostBuffer g(packed, {out, in});
  ASSERT_TRUE(can_regroup_unit_records(w.tensor()));
  regroup_unit_records(w.tensor(), g.tensor());
  EXPECT_EQ(row_bytes(packed, in), row_bytes(plain, in));
  EXPECT_EQ(unit_records_plain_type(packed), plain);
  std::vector<uint8_t> row(row_bytes(plain, in));
  for (int64_t r = 0; r < out; ++r) {
    unit_records_row_to_plain(g.tensor(), r, row.data());
    ASSERT_EQ(std::memcmp(row.data(), w.tensor().row(r), row.size()), 0) << "row " << r;
  }
  // the quants moved: unit 1's 16 bytes sit at 16 + 16 in the record, not where the plain type keeps them
  EXPECT_NE(std::memcmp(g.tensor().row(2), w.tensor().row(2), 144), 0);
}

// Each unit's 32 values are an affine function of its 32 nibbles read in q4_0's order (byte i: element i
// low, element 16 + i high): one scale and one offset a unit. Nibbles placed wrongly break that.
TEST_P(UnitRecords, UnitNibblesAreInQ4_0Order) {
  const DType plain = GetParam();
  const int64_t in = 512;
  const HostBuffer w = random_matrix(plain, 1, in);
  HostBuffer g(unit_records_type(plain), {1, in});
  regroup_unit_records(w.tensor(), g.tensor());
  std::vector<float> values(static_cast<size_t>(in));
  dequantize_row(plain, w.tensor().row(0), values.data(), in);
  const auto* row = static_cast<const uint8_t*>(g.tensor().row(0));
  int checked = 0;
  for (int u = 0; u < in / 32; ++u) {
    const uint8_t* q = row + (u / 8) * 144 + 16 + 16 * (u % 8);
    int nib[32];
    for (int i = 0; i < 16; ++i) nib[i] = q[i] & 0xF, nib[16 + i] = q[i] >> 4;
    const float* v = values.data() + 32 * u;
    int k = 1;
    while (k < 32 && nib[k] == nib[0]) ++k;
    if (k == 32) continue;
    const double a = (double(v[k]) - v[0]) / (nib[k] - nib[0]), b = v[0] - a * nib[0];
    for (int e = 0; e < 32; ++e)
      EXPECT_NEAR(v[e], a * nib[e] + b, 1e-5 * (std::fabs(a) * 16 + std::fabs(b)) + 1e-7) << "unit " << u << " element " << e;
    ++checked;
  }
  EXPECT_GE(checked, 12);
}

TEST_P(UnitRecords, IsInternalOnly) {
  const DType packed = unit_records_type(GetParam());
  EXPECT_FALSE(dtype_info(uint32_t(packed)).has_value()) << "a GGUF reader would accept the internal id";
  EXPECT_TRUE(is_internal(packed));
  EXPECT_THROW(parse_dtype(name(packed)), Error);
  GgufWriter writer;
  const std::vector<uint8_t> bytes(144);
  EXPECT_THROW(writer.add_tensor("w", packed, {1, 256}, bytes.data(), bytes.size()), Error);
}

TEST_P(UnitRecords, RefusesWhatItCannotHold) {
  const DType plain = GetParam();
  HostBuffer dst(unit_records_type(plain), {4, 256}), wrong(DType::Q8_0, {4, 256});
  const HostBuffer w = random_matrix(plain, 4, 256);
  EXPECT_THROW(regroup_unit_records(w.tensor(), wrong.tensor()), Error);
  EXPECT_THROW(regroup_unit_records(w.tensor().slice_rows(0, 2), dst.tensor()), Error);  // shapes differ
  EXPECT_THROW(unit_records_type(DType::Q8_0), Error);
  EXPECT_THROW(unit_records_plain_type(plain), Error);
  if (plain == DType::Q4_0) {  // q4_0 rows of a partial record
    const HostBuffer odd = random_matrix(plain, 4, 288);
    HostBuffer odd_dst(DType::Q4_0C, {4, 288 + 224});
    EXPECT_FALSE(can_regroup_unit_records(odd.tensor()));
    EXPECT_THROW(regroup_unit_records(odd.tensor(), odd_dst.tensor()), Error);
    EXPECT_THROW(row_bytes(DType::Q4_0C, 288), Error);
  }
}

TEST_P(UnitRecords, ReferenceMatmulEqualsPlain) {
  const DType plain = GetParam();
  const int64_t T = 3, out = 9, in = 768;
  const HostBuffer w = random_matrix(plain, out, in);
  HostBuffer g(unit_records_type(plain), {out, in}), x(DType::F32, {T, in}), y0(DType::F32, {T, out}),
      y1(DType::F32, {T, out});
  regroup_unit_records(w.tensor(), g.tensor());
  const auto xv = random_floats(size_t(T * in), -2.f, 2.f);
  std::memcpy(x.data(), xv.data(), xv.size() * 4);
  ReferenceBackend ref;
  ref.matmul(x.tensor(), w.tensor(), nullptr, y0.tensor());
  ref.matmul(x.tensor(), g.tensor(), nullptr, y1.tensor());
  EXPECT_EQ(std::memcmp(y0.data(), y1.data(), size_t(T * out) * 4), 0);
  // the CPU backend never makes these layouts and refuses them by name
  CpuBackend cpu(1);
  try {
    cpu.matmul(x.tensor(), g.tensor(), nullptr, y1.tensor());
    ADD_FAILURE() << "the CPU backend took " << name(g.tensor().type);
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(name(g.tensor().type)), std::string::npos) << e.what();
  }
}

INSTANTIATE_TEST_SUITE_P(Types, UnitRecords, ::testing::Values(DType::Q4_0, DType::Q4_K),
                         [](const ::testing::TestParamInfo<DType>& p) { return std::string(name(p.param)); });

}  // namespace
}  // namespace llmr
