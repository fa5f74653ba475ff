#pragma once
// Shared by the non-matmul op batteries: the implementations under test (every backend of
// backends_under_test.h plus the CPU kernels pinned at each lower SIMD level), strided buffers with
// poisoned padding, and tolerance checks that name the worst element.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "backend/cpu/simd_kernels.h"
#include "ops/backends_under_test.h"
#include "test_util.h"

namespace llmr::testing {

// The CPU backend's non-matmul ops run at one pinned SIMD level (matmul/embedding are not its concern).
class CpuAtLevel final : public Backend {
 public:
  explicit CpuAtLevel(cpu::SimdLevel level) : level_(level), pool_(2) {}
  std::string name() const override { return std::string("cpu-") + cpu::level_name(level_); }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override {
    cpu::rms_norm(pool_, level_, x, w, eps, y);
  }
  void rms_norm_residual(const Tensor& x, const Tensor& r, const Tensor& w, float eps, const Tensor& sum,
                         const Tensor& y) override {
    cpu::rms_norm_residual(pool_, level_, x, r, w, eps, sum, y);
  }
  void embedding(const Tensor&, std::span<const int32_t>, const Tensor&) override {
    throw Error("CpuAtLevel: embedding is tested elsewhere");
  }
  void matmul(const Tensor&, const Tensor&, const Tensor*, const Tensor&) override {
    throw Error("CpuAtLevel: matmul is tested elsewhere");
  }
  void rope(const Tensor& x, int n_heads, std::span<const int32_t> pos, const RopeSpec& spec) override {
    cpu::rope(pool_, level_, x, n_heads, pos, spec);
  }
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, std::span<const int32_t> pos,
                 const AttentionSpec& spec, const Tensor& out) override {
    cpu::attention(pool_, level_, q, k, v, pos, spec, out);
  }
  void swiglu(const Tensor& g, const Tensor& u, const Tensor& out) override { cpu::swiglu(pool_, level_, g, u, out); }
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override { cpu::add(pool_, level_, a, b, out); }
  void softmax(const Tensor& x) override { cpu::softmax(pool_, level_, x); }
  void copy(const Tensor& src, const Tensor& dst) override { cpu::copy(pool_, level_, src, dst); }

 private:
  cpu::SimdLevel level_;
  cpu::ThreadPool pool_;
};

// backend_names() plus "cpu-scalar", "cpu-avx2" ... for each level below the one "cpu" runs.
inline std::vector<std::string> op_impl_names() {
  std::vector<std::string> names = backend_names();
#ifndef LLMR_TEST_CUDA_BACKEND  // test_cuda: the GPU only
  for (cpu::SimdLevel level : cpu::available_levels())
    if (level != cpu::active_level()) names.push_back(std::string("cpu-") + cpu::level_name(level));
#endif
  return names;
}

inline Backend& op_impl(const std::string& name) {
  static std::vector<std::unique_ptr<CpuAtLevel>> pinned;
  for (cpu::SimdLevel level : cpu::available_levels()) {
    if (name != std::string("cpu-") + cpu::level_name(level)) continue;
    for (auto& p : pinned)
      if (p->name() == name) return *p;
    pinned.push_back(std::make_unique<CpuAtLevel>(level));
    return *pinned.back();
  }
  return backend_named(name);
}

inline std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& c : s)
    if (c == '-') c = '_';
  return s;
}

// A [rows, cols] tensor whose rows are `pad` elements apart beyond cols; the padding holds a poison
// pattern so a kernel writing past a row is caught by padding_intact(). Block types (q8_0) take cols
// and pad in whole blocks.
class Strided {
 public:
  Strided(DType type, int64_t rows, int64_t cols, int64_t pad = 0)
      : type_(type), rows_(rows), cols_(cols), pad_(pad), row_used_(row_bytes(type, cols)),
        row_span_(row_bytes(type, cols + pad)), bytes_(size_t(rows) * row_span_ + 64) {
    std::memset(bytes_.data(), kPoison, bytes_.size());
    t_ = Tensor::view(bytes_.data(), type, {rows, cols});
    t_.stride[0] = int64_t(row_span_);
  }
  const Tensor& t() const { return t_; }
  bool padding_intact() const {
    for (int64_t r = 0; r < rows_; ++r)
      for (size_t b = size_t(r) * row_span_ + row_used_; b < size_t(r + 1) * row_span_; ++b)
        if (bytes_[b] != kPoison) return false;
    for (size_t b = size_t(rows_) * row_span_; b < bytes_.size(); ++b)
      if (bytes_[b] != kPoison) return false;
    return true;
  }
  // Fills with random values in [lo, hi) (rounded to the type as stored).
  void randomize(float lo = -1.f, float hi = 1.f) {
    const auto v = random_floats(size_t(rows_ * cols_), lo, hi);
    fill(t_, [&](int64_t i) { return v[size_t(i)]; });
  }
  void copy_from(const Strided& o) {
    for (int64_t r = 0; r < rows_; ++r) std::memcpy(t_.row(r), o.t_.row(r), row_used_);
  }

 private:
  static constexpr unsigned char kPoison = 0x7b;
  DType type_;
  int64_t rows_, cols_, pad_;
  size_t row_used_, row_span_;
  std::vector<unsigned char> bytes_;
  Tensor t_;
};

// Every element within atol + rtol * |expected|; reports the worst one.
inline void expect_close(const Tensor& actual, const Tensor& expected, double atol, double rtol, const std::string& what) {
  double worst = 0;
  int64_t wr = -1, wc = -1;
  for (int64_t r = 0; r < expected.rows(); ++r)
    for (int64_t c = 0; c < expected.cols(); ++c) {
      const double a = element(actual, r, c), e = element(expected, r, c);
      const double excess = std::isnan(a) || std::isnan(e) ? (std::isnan(a) && std::isnan(e) ? 0 : INFINITY)
                                                           : a == e ? 0.0 : std::fabs(a - e) / (atol + rtol * std::fabs(e));
      if (excess > worst || std::isnan(excess)) {
        worst = excess;
        wr = r;
        wc = c;
      }
    }
  EXPECT_LE(worst, 1.0) << what << ": worst element [" << wr << ", " << wc << "] = "
                        << (wr >= 0 ? element(actual, wr, wc) : 0.f) << ", expected "
                        << (wr >= 0 ? element(expected, wr, wc) : 0.f) << " (atol " << atol << ", rtol " << rtol
                        << ")";
}

// Runs fn and expects an llmr::Error whose message contains `needle`.
template <typename F>
void expect_error(F fn, const std::string& needle) {
  try {
    fn();
    ADD_FAILURE() << "expected an llmr::Error mentioning '" << needle << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << "message: " << e.what();
  }
}

}  // namespace llmr::testing
