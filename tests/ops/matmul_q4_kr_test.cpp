// Q4_KR, the CPU backend's load-time repacking of q4_k matrices (tensor/q4_k_repack.h): the layout
// round-trips, files and the command line cannot name it, and matmul over it at every level (and on
// the reference) gives bit for bit what the plain q4_k matrix gives, within the oracle's tolerance,
// batch invariantly.
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
#include "tensor/q4_k_repack.h"
#include "tensor/quant.h"
#include "test_util.h"

namespace llmr {
namespace {

using testing::random_floats;

struct Pair {
  HostBuffer plain, packed;
  std::vector<float> values;  // dequantized, row-major [out, in]
};

Pair random_pair(int64_t out, int64_t in) {
  Pair p{HostBuffer(DType::Q4_K, {out, in}), HostBuffer(DType::Q4_KR, {out, in}), std::vector<float>(size_t(out * in))};
  for (int64_t r = 0; r < out; ++r) {
    const auto v = random_floats(size_t(in), -1.f, 1.f);
    quantize_row(DType::Q4_K, v.data(), p.plain.tensor().row(r), in);
    dequantize_row(DType::Q4_K, p.plain.tensor().row(r), p.values.data() + r * in, in);
  }
  repack_q4_k(p.plain.tensor(), p.packed.tensor());
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

TEST(Q4_KRepack, UnpackGivesEveryRowBack) {
  const Pair p = random_pair(48, 1280);
  EXPECT_EQ(row_bytes(DType::Q4_KR, 1280), row_bytes(DType::Q4_K, 1280));  // same bytes
  std::vector<quant::BlockQ4_K> row(5);
  for (int64_t r = 0; r < 48; ++r) {
    unpack_q4_kr_row(p.packed.tensor(), r, row.data());
    ASSERT_EQ(std::memcmp(row.data(), p.plain.tensor().row(r), row_bytes(DType::Q4_K, 1280)), 0) << "row " << r;
  }
  // and the layout really moved the bytes (row 1's first block is not where q4_k keeps it)
  EXPECT_NE(std::memcmp(p.packed.tensor().row(1), p.plain.tensor().row(1), 144), 0);
}

TEST(Q4_KRepack, IsInternalOnly) {
  EXPECT_FALSE(dtype_info(uint32_t(DType::Q4_KR)).has_value()) << "a GGUF reader would accept the internal id";
  EXPECT_TRUE(is_internal(DType::Q4_KR));
  EXPECT_FALSE(is_internal(DType::Q4_K));
  EXPECT_THROW(parse_dtype("q4_kr"), Error);
  GgufWriter writer;
  const std::vector<uint8_t> bytes(16 * 144);
  EXPECT_THROW(writer.add_tensor("w", DType::Q4_KR, {16, 256}, bytes.data(), bytes.size()), Error);
}

TEST(Q4_KRepack, RefusesWhatItCannotHold) {
  HostBuffer odd(DType::Q4_K, {37, 256}), dst(DType::Q4_KR, {37, 256});
  EXPECT_FALSE(can_repack_q4_k(odd.tensor()));
  EXPECT_THROW(repack_q4_k(odd.tensor(), dst.tensor()), Error);
  // matmul: rows not whole groups; embedding never takes the repacked layout
  HostBuffer x(DType::F32, {1, 256}), y(DType::F32, {1, 37}), e(DType::F32, {1, 256});
  for (const auto& [name, level] : levels())
    EXPECT_THROW(cpu::matmul_at_level(level, x.tensor(), dst.tensor(), nullptr, y.tensor(), &pool()), Error) << name;
  const Pair p = random_pair(16, 256);
  const int32_t id = 3;
  EXPECT_THROW(testing::backend_named("cpu").embedding(p.packed.tensor(), {&id, 1}, e.tensor()), Error);
  EXPECT_THROW(testing::reference().embedding(p.packed.tensor(), {&id, 1}, e.tensor()), Error);
}

TEST(Q4_KRepack, CpuBackendRepacksOnlyWhereItCan) {
  CpuBackend cpu(1);
  const Pair p = random_pair(32, 256);
  HostBuffer odd(DType::Q4_K, {37, 256}), f16(DType::F16, {32, 256});
  const bool avx512 = cpu::best_level() == cpu::Level::Avx512;
  EXPECT_EQ(cpu.upload_matmul_weight(p.plain.tensor())->tensor().type, avx512 ? DType::Q4_KR : DType::Q4_K);
  EXPECT_EQ(cpu.upload_matmul_weight(odd.tensor())->tensor().type, DType::Q4_K);
  EXPECT_EQ(cpu.upload_matmul_weight(f16.tensor())->tensor().type, DType::F16);
  if (avx512) {
    const auto packed = cpu.upload_matmul_weight(p.plain.tensor());
    EXPECT_EQ(std::memcmp(packed->tensor().data, p.packed.tensor().data, 32 * row_bytes(DType::Q4_K, 256)), 0);
  }
  cpu.set_repack_weights(false);
  EXPECT_EQ(cpu.upload_matmul_weight(p.plain.tensor())->tensor().type, DType::Q4_K);
}

// Repacking gives the source's pages back to the kernel (a mapped file's, or paged out): the
// source must still read the same afterwards, from a file mapping and from ordinary memory.
TEST(Q4_KRepack, SourceReadsTheSameAfterUpload) {
  CpuBackend cpu(1);
  const int64_t out = 256, in = 1024;  // 36 pages of 4 KiB: whole pages get released
  const Pair p = random_pair(out, in);
  const size_t bytes = size_t(out) * row_bytes(DType::Q4_K, in);
  const std::vector<uint8_t> want(static_cast<const uint8_t*>(p.plain.data()), static_cast<const uint8_t*>(p.plain.data()) + bytes);
  const auto path = std::filesystem::temp_directory_path() / ("llmr_q4kr_" + std::to_string(::getpid()) + ".bin");
  {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(want.data()), std::streamsize(want.size()));
  }
  const auto file = MappedFile::open(path);
  std::filesystem::remove(path);
  const Tensor mapped = Tensor::view(const_cast<uint8_t*>(file->data()), DType::Q4_K, {out, in}, Device::Host);
  for (const Tensor& src : {mapped, p.plain.tensor()}) {
    const auto placed = cpu.upload_matmul_weight(src);
    if (placed->tensor().type == DType::Q4_KR)
      EXPECT_EQ(std::memcmp(placed->tensor().data, p.packed.tensor().data, bytes), 0);
    EXPECT_EQ(std::memcmp(src.data, want.data(), bytes), 0) << (src.data == mapped.data ? "mapped file" : "host buffer");
  }
}

// Every level, the reference and the CPU backend: Q4_KR's product equals plain q4_k's bit for bit,
// and both are within the battery's tolerance of a double oracle (8-bit activations: see matmul_test).
TEST(Q4_KRepack, MatmulEqualsPlainAndTheOracle) {
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
    for (int64_t in : {256, 512, 1280, 4096}) {
      const int64_t out = T * in > 20000 ? 16 : (i % 3 == 0 ? 16 : i % 3 == 1 ? 48 : 256);
      const bool with_bias = i++ % 2 == 0;
      const Pair p = random_pair(out, in);
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
        ASSERT_EQ(std::memcmp(y0.tensor().data, y1.tensor().data, size_t(T * out) * 4), 0) << "q4_kr differs from q4_k";
        for (int64_t t = 0; t < T; ++t)
          for (int64_t o = 0; o < out; ++o) {
            const float* xr = xv.data() + t * in;
            const float* wr = p.values.data() + o * in;
            double want = with_bias ? bv[size_t(o)] : 0.0, abs_sum = 0, act_err = 0;
            for (int64_t k0 = 0; k0 < in; k0 += 32) {
              double amax = 0, wabs = 0;
              for (int64_t k = k0; k < k0 + 32; ++k) {
                want += double(xr[k]) * wr[k];
                abs_sum += std::fabs(double(xr[k]) * wr[k]);
                amax = std::max(amax, std::fabs(double(xr[k])));
                wabs += std::fabs(double(wr[k]));
              }
              act_err += amax / 254.0 * wabs;
            }
            const double tol = impl.int8 ? 4e-5 * abs_sum + 1e-5 + 1.01 * act_err : 1e-6 * abs_sum + 1e-6;
            const float got = y1.tensor().row<float>(t)[o];
            ASSERT_TRUE(std::fabs(got - want) <= tol) << "y[" << t << "][" << o << "] = " << got << ", want " << want << " +- " << tol;
          }
      }
    }
}

// A row's output does not depend on the batch around it (as matmul_batch_invariance_test, Q4_KR).
TEST(Q4_KRepack, BatchInvariantAtEveryLevel) {
  for (const int64_t in : {int64_t(512), int64_t(1280)}) {
    const int64_t out = 48;
    const Pair p = random_pair(out, in);
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

}  // namespace
}  // namespace llmr
