// The CPU backend's load-time repacked layouts (Q8_0R, Q4_0R, Q4_KR: tensor/q*_repack.h), one battery
// over all three: the layout round-trips, files and the command line cannot name it, and matmul over it
// at every level (and on the reference) gives bit for bit what the plain matrix gives, within the
// oracle's tolerance, batch invariantly.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.h"
#include "backend/cpu/cpu_features.h"
#include "backend/cpu/matmul_kernels.h"
#include "core/error.h"
#include "format/gguf_writer.h"
#include "format/mapped_file.h"
#include "ops/backends_under_test.h"
#include "tensor/q4_0_repack.h"
#include "tensor/q4_k_repack.h"
#include "tensor/q8_0_repack.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

// One repacked layout and the plain type it comes from. `unit`: the plain type's block (32 or 256
// elements); the tests' widths are multiples of it.
struct Layout {
  const char* name;  // as parse_dtype would spell it
  DType plain, packed;
  bool (*can_repack)(const Tensor&);
  void (*repack)(const Tensor&, const Tensor&);
  void (*unpack_row)(const Tensor&, int64_t, void*);
  int64_t unit;
};

const Layout kLayouts[] = {
    {"q8_0r", DType::Q8_0, DType::Q8_0R, can_repack_q8_0, repack_q8_0,
     [](const Tensor& w, int64_t r, void* out) { unpack_q8_0r_row(w, r, static_cast<quant::BlockQ8_0*>(out)); }, 32},
    {"q4_0r", DType::Q4_0, DType::Q4_0R, can_repack_q4_0, repack_q4_0,
     [](const Tensor& w, int64_t r, void* out) { unpack_q4_0r_row(w, r, static_cast<quant::BlockQ4_0*>(out)); }, 32},
    {"q4_kr", DType::Q4_K, DType::Q4_KR, can_repack_q4_k, repack_q4_k,
     [](const Tensor& w, int64_t r, void* out) { unpack_q4_kr_row(w, r, static_cast<quant::BlockQ4_K*>(out)); }, 256},
};

class Repacked : public ::testing::TestWithParam<Layout> {
 protected:
  const Layout& L() const { return GetParam(); }
  // Widths: a few whole units, an odd count of them (a partial group of 32-element blocks) and a long row.
  int64_t narrow() const { return L().unit == 32 ? 64 : 256; }
  int64_t odd() const { return L().unit == 32 ? 416 : 1280; }
};

struct Pair {
  HostBuffer plain, packed;
  std::vector<float> values;  // dequantized, row-major [out, in]
};

Pair random_pair(const Layout& l, int64_t out, int64_t in) {
  Pair p{HostBuffer(l.plain, {out, in}), HostBuffer(l.packed, {out, in}), std::vector<float>(size_t(out * in))};
  for (int64_t r = 0; r < out; ++r) {
    const auto v = random_floats(size_t(in), -1.f, 1.f);
    quantize_row(l.plain, v.data(), p.plain.tensor().row(r), in);
    dequantize_row(l.plain, p.plain.tensor().row(r), p.values.data() + r * in, in);
  }
  l.repack(p.plain.tensor(), p.packed.tensor());
  return p;
}

std::vector<std::pair<std::string, cpu::Level>> levels() {
  std::vector<std::pair<std::string, cpu::Level>> l = {{"scalar", cpu::Level::Scalar}};
  if (cpu::cpu_features().avx2) l.push_back({"avx2", cpu::Level::Avx2});
  if (cpu::cpu_features().avx512_vnni) l.push_back({"avx512", cpu::Level::Avx512});
  return l;
}

cpu::ThreadPool& pool() {
  static cpu::ThreadPool p(2);
  return p;
}

TEST_P(Repacked, UnpackGivesEveryRowBack) {
  const int64_t in = odd();
  const Pair p = random_pair(L(), 48, in);
  EXPECT_EQ(row_bytes(L().packed, in), row_bytes(L().plain, in));  // same bytes
  std::vector<uint8_t> row(row_bytes(L().plain, in));
  for (int64_t r = 0; r < 48; ++r) {
    L().unpack_row(p.packed.tensor(), r, row.data());
    ASSERT_EQ(std::memcmp(row.data(), p.plain.tensor().row(r), row.size()), 0) << "row " << r;
  }
  // and the layout really moved the bytes (row 1's first block is not where the plain type keeps it)
  EXPECT_NE(std::memcmp(p.packed.tensor().row(1), p.plain.tensor().row(1), info(L().plain).block_bytes), 0);
}

TEST_P(Repacked, IsInternalOnly) {
  EXPECT_FALSE(dtype_info(uint32_t(L().packed)).has_value()) << "a GGUF reader would accept the internal id";
  EXPECT_TRUE(is_internal(L().packed));
  EXPECT_FALSE(is_internal(L().plain));
  EXPECT_THROW(parse_dtype(L().name), Error);
  GgufWriter writer;
  const std::vector<uint8_t> bytes(16 * info(L().plain).block_bytes);
  EXPECT_THROW(writer.add_tensor("w", L().packed, {16, L().unit}, bytes.data(), bytes.size()), Error);
}

TEST_P(Repacked, RefusesWhatItCannotHold) {
  const int64_t in = narrow();
  HostBuffer odd(L().plain, {37, in}), dst(L().packed, {37, in});
  EXPECT_FALSE(L().can_repack(odd.tensor()));
  EXPECT_THROW(L().repack(odd.tensor(), dst.tensor()), Error);
  // matmul: rows not whole groups; embedding never takes the repacked layout
  HostBuffer x(DType::F32, {1, in}), y(DType::F32, {1, 37}), e(DType::F32, {1, in});
  for (const auto& [name, level] : levels())
    EXPECT_THROW(cpu::matmul_at_level(level, x.tensor(), dst.tensor(), nullptr, y.tensor(), &pool()), Error) << name;
  const Pair p = random_pair(L(), 16, in);
  const int32_t id = 3;
  EXPECT_THROW(testing::backend_named("cpu").embedding(p.packed.tensor(), {&id, 1}, e.tensor()), Error);
  EXPECT_THROW(testing::reference().embedding(p.packed.tensor(), {&id, 1}, e.tensor()), Error);
}

TEST_P(Repacked, CpuBackendRepacksOnlyWhereItCan) {
  CpuBackend cpu(1);
  const int64_t in = narrow();
  const Pair p = random_pair(L(), 32, in);
  HostBuffer odd(L().plain, {37, in}), f16(DType::F16, {32, in});
  const bool avx512 = cpu::best_level() == cpu::Level::Avx512;
  EXPECT_EQ(cpu.upload_matmul_weight(p.plain.tensor())->tensor().type, avx512 ? L().packed : L().plain);
  EXPECT_EQ(cpu.upload_matmul_weight(odd.tensor())->tensor().type, L().plain);
  EXPECT_EQ(cpu.upload_matmul_weight(f16.tensor())->tensor().type, DType::F16);
  if (avx512) {
    const auto packed = cpu.upload_matmul_weight(p.plain.tensor());
    EXPECT_EQ(std::memcmp(packed->tensor().data, p.packed.tensor().data, 32 * row_bytes(L().plain, in)), 0);
  }
  cpu.set_repack_weights(false);
  EXPECT_EQ(cpu.upload_matmul_weight(p.plain.tensor())->tensor().type, L().plain);
}

// Repacking gives the source's pages back to the kernel (a mapped file's, or paged out): the
// source must still read the same afterwards, from a file mapping and from ordinary memory.
TEST_P(Repacked, SourceReadsTheSameAfterUpload) {
  CpuBackend cpu(1);
  const int64_t out = 256, in = 1024;  // 34-36 pages of 4 KiB: whole pages get released
  const Pair p = random_pair(L(), out, in);
  const size_t bytes = size_t(out) * row_bytes(L().plain, in);
  const std::vector<uint8_t> want(static_cast<const uint8_t*>(p.plain.data()), static_cast<const uint8_t*>(p.plain.data()) + bytes);
  const auto path = std::filesystem::temp_directory_path() / (std::string("llmr_") + L().name + "_" + std::to_string(::getpid()) + ".bin");
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(want.data()), std::streamsize(want.size()));
  }
  const auto file = MappedFile::open(path);
  std::filesystem::remove(path);
  const Tensor mapped = Tensor::view(const_cast<uint8_t*>(file->data()), L().plain, {out, in}, Device::Host);
  for (const Tensor& src : {mapped, p.plain.tensor()}) {
    const auto placed = cpu.upload_matmul_weight(src);
    if (placed->tensor().type == L().packed)
      EXPECT_EQ(std::memcmp(placed->tensor().data, p.packed.tensor().data, bytes), 0);
    EXPECT_EQ(std::memcmp(src.data, want.data(), bytes), 0) << (src.data == mapped.data ? "mapped file" : "host buffer");
  }
}

// Every level, the reference and the CPU backend: the repacked product equals the plain one bit for
// bit, and both are within the battery's tolerance of a double oracle (8-bit activations: see matmul_test).
TEST_P(Repacked, MatmulEqualsPlainAndTheOracle) {
  struct Impl {
    std::string name;
    std::function<void(const Tensor&, const Tensor&, const Tensor*, const Tensor&)> run;
    bool int8;
  };
  std::vector<Impl> impls;
  for (const auto& [name, level] : levels())
    impls.push_back({name, [level = level](const Tensor& x, const Tensor& w, const Tensor* b, const Tensor& y) {
                       cpu::matmul_at_level(level, x, w, b, y, &pool());
                     }, true});
  for (const char* name : {"reference", "cpu"})
    impls.push_back({name, [name](const Tensor& x, const Tensor& w, const Tensor* b, const Tensor& y) {
                       testing::backend_named(name).matmul(x, w, b, y);
                     }, std::string(name) != "reference"});
  int i = 0;
  for (int64_t T : {1, 2, 3, 4, 5, 8, 17, 64})
    for (int64_t in : {L().unit, 3 * L().unit, odd(), int64_t(4096)}) {
      const int64_t out = T * in > 20000 ? 16 : (i % 3 == 0 ? 16 : i % 3 == 1 ? 48 : 256);
      const bool with_bias = i++ % 2 == 0;
      const Pair p = random_pair(L(), out, in);
      HostBuffer x(DType::F32, {T, in}), y0(DType::F32, {T, out}), y1(DType::F32, {T, out}), bias(DType::F32, {out});
      const auto xv = random_floats(size_t(T * in), -2.f, 2.f), bv = random_floats(size_t(out));
      std::memcpy(x.tensor().data, xv.data(), xv.size() * 4);
      std::memcpy(bias.tensor().data, bv.data(), bv.size() * 4);
      const Tensor bt = bias.tensor();
      for (const Impl& impl : impls) {
        SCOPED_TRACE(impl.name + " T=" + std::to_string(T) + " in=" + std::to_string(in) + " out=" + std::to_string(out));
        testing::fill(y0.tensor(), [](int64_t) { return std::nanf(""); });
        testing::fill(y1.tensor(), [](int64_t) { return std::nanf(""); });
        impl.run(x.tensor(), p.plain.tensor(), with_bias ? &bt : nullptr, y0.tensor());
        impl.run(x.tensor(), p.packed.tensor(), with_bias ? &bt : nullptr, y1.tensor());
        ASSERT_EQ(std::memcmp(y0.tensor().data, y1.tensor().data, size_t(T * out) * 4), 0) << L().name << " differs from the plain type";
        for (int64_t t = 0; t < T; ++t)
          for (int64_t o = 0; o < out; ++o) {
            const float* xr = xv.data() + t * in;
            const float* wr = p.values.data() + o * in;
            const testing::DotOracle d = testing::dot_oracle(xr, wr, in);
            const double want = (with_bias ? bv[size_t(o)] : 0.0) + d.value;
            const double tol = impl.int8 ? 4e-5 * d.abs_sum + 1e-5 + 1.01 * d.act_err : 1e-6 * d.abs_sum + 1e-6;
            const float got = y1.tensor().row<float>(t)[o];
            ASSERT_TRUE(std::fabs(got - want) <= tol) << "y[" << t << "][" << o << "] = " << got << ", want " << want << " +- " << tol;
          }
      }
    }
}

// A row's output does not depend on the batch around it (as matmul_batch_invariance_test).
TEST_P(Repacked, BatchInvariantAtEveryLevel) {
  for (const int64_t in : {int64_t(512), odd()}) {
    const int64_t out = 48;
    const Pair p = random_pair(L(), out, in);
    for (const auto& [name, level] : levels())
      for (int64_t T : {2, 3, 4, 5, 8, 17}) {
        HostBuffer x(DType::F32, {T, in}), y(DType::F32, {T, out}), one(DType::F32, {1, out});
        const auto xv = random_floats(size_t(T * in), -2.f, 2.f);
        std::memcpy(x.tensor().data, xv.data(), xv.size() * 4);
        cpu::matmul_at_level(level, x.tensor(), p.packed.tensor(), nullptr, y.tensor(), &pool());
        int64_t differ = 0;
        for (int64_t t = 0; t < T; ++t) {
          cpu::matmul_at_level(level, x.tensor().slice_rows(t, 1), p.packed.tensor(), nullptr, one.tensor(), &pool());
          differ += std::memcmp(one.tensor().row(0), y.tensor().row(t), size_t(out) * 4) != 0;
        }
        EXPECT_EQ(differ, 0) << name << ", in = " << in << ", T = " << T << ": rows differ from the same row alone";
      }
  }
}

INSTANTIATE_TEST_SUITE_P(Layouts, Repacked, ::testing::ValuesIn(kLayouts),
                         [](const ::testing::TestParamInfo<Layout>& p) { return std::string(p.param.name); });

}  // namespace
}  // namespace llmr
