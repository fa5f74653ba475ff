// The CUDA sampling kernel (backend/cuda/sample_kernel.cuh), run on the host through a SIMT emulation
// (tests/ops/sample_simt_emulator.h: 128 threads, so 4 warps compact and walk), against the definition
// done the slow way: greedy with ties, top-k with ties at the k-th logit, top-p, min-p, temperature
// extremes, u at 0 and just below 1. The emulation rounds each float step as the device does, so a
// choice may differ only within the slack of summation order (tests/ops/sample_definition.h). This
// checks the kernel's logic on every machine; test_cuda's battery checks it on the GPU itself.
#ifndef LLMR_TEST_CUDA_BACKEND  // test_cuda: the real kernel runs in the sample battery instead
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <string>
#include <vector>

#include "ops/sample_definition.h"

// Last: the emulation defines CUDA's keywords as macros.
#define LLMR_SAMPLE_THREADS 128
#include "ops/sample_simt_emulator.h"
#include "backend/cuda/sample_kernel.cuh"

namespace llmr::testing {
namespace {

int32_t emulated_sample(const std::vector<float>& logits, const SampleRow& row) {
  cuda_sample::RowSettings settings{};
  settings.rows[0] = row;
  int32_t out = -1;
  simt::run_block(cuda_sample::kThreads, 0, cuda_sample::sample_rows, reinterpret_cast<const char*>(logits.data()),
                  int64_t(logits.size() * sizeof(float)), int(logits.size()), settings, &out);
  return out;
}

class SampleKernelEmulated : public ::testing::Test {
 protected:
  void check(const SampleRow& row, const std::vector<float>& logits, const std::string& what) {
    const int32_t got = emulated_sample(logits, row), want = slow_sample(logits, row);
    if (got == want) return;
    const std::string where = what + ", vocab " + std::to_string(logits.size()) + ", t " +
                              std::to_string(row.temperature) + " top_k " + std::to_string(row.top_k) + " top_p " +
                              std::to_string(row.top_p) + " min_p " + std::to_string(row.min_p) + " u " +
                              std::to_string(row.u);
    if (row.temperature == 0 || !within_slack(logits, row, got))
      ADD_FAILURE() << where << ": the kernel picks " << got << ", the definition " << want;
    else
      ++slack_choices_;
  }
  void check_setting(SampleRow row, size_t n, int count, float spread, const std::string& what) {
    std::uniform_real_distribution<double> u(0.0, 1.0);
    for (int i = 0; i < count; ++i) {
      row.u = u(rng());
      check(row, tied_logits(n, spread, row.top_k), what);
    }
  }
  void TearDown() override { EXPECT_LE(slack_choices_, 2) << "choices that needed summation slack"; }
  int slack_choices_ = 0;
};

// The kernel's exp is the host's bit for bit (each step rounded alike), so both get the same p.
TEST(SampleKernelExp, EqualsTheHostsBitForBit) {
  int differ = 0;
  for (float x : random_floats(200000, -100.f, 0.f))
    differ += std::bit_cast<uint32_t>(cuda_sample::exp_nonpositive(x)) !=
              std::bit_cast<uint32_t>(sample_math::exp_nonpositive(x));
  for (float x : {0.f, -0.f, -87.f, -86.99f, -126.f, -1e-30f, -INFINITY})
    differ += std::bit_cast<uint32_t>(cuda_sample::exp_nonpositive(x)) !=
              std::bit_cast<uint32_t>(sample_math::exp_nonpositive(x));
  EXPECT_EQ(differ, 0);
}

TEST_F(SampleKernelEmulated, Greedy) {
  for (size_t n : {1, 31, 700}) check_setting({0.f, 0, 1.f, 0.f, 0}, n, 3, 5.f, "greedy");
  std::vector<float> zeros = random_floats(64, -5.f, -1.f);
  zeros[9] = -0.f, zeros[5] = 0.f;
  check({0.f, 0, 1.f, 0.f, 0}, zeros, "signed zeros");
}

TEST_F(SampleKernelEmulated, TopKTopPMinP) {
  for (int k : {1, 3, 40, 0})
    for (float p : {1.f, 0.9f, 0.3f})
      for (float m : {0.f, 0.1f}) check_setting({0.9f, k, p, m, 0}, 500, 2, 4.f, "cuts");
  check_setting({1.f, 0, 1.f, 0.f, 0}, 1500, 3, 2.f, "nothing cut");
  check_setting({1.f, 0, 0.95f, 0.f, 0}, 1500, 3, 1.f, "top-p over a flat row");
  check_setting({1.f, 200, 1.f, 0.f, 0}, 300, 3, 0.5f, "top-k near the vocabulary");
  check_setting({1.f, 1100, 0.9f, 0.05f, 0}, 1500, 2, 1.f, "top-k past what moves to shared memory");
  check_setting({1.f, 1024, 0.8f, 0.f, 0}, 1500, 2, 1.f, "top-k at what moves to shared memory");
}

TEST_F(SampleKernelEmulated, TemperatureExtremes) {
  for (float t : {1e-4f, 50.f}) check_setting({t, 40, 0.9f, 0.05f, 0}, 400, 3, 8.f, "temperature");
}

TEST_F(SampleKernelEmulated, DrawsNearZeroAndOne) {
  for (double u : {0.0, 1e-12, 1 - 1e-12, std::nextafter(1.0, 0.0)})
    for (SampleRow row : {SampleRow{1.f, 0, 1.f, 0.f, 0}, SampleRow{0.8f, 40, 0.95f, 0.05f, 0}}) {
      row.u = u;
      check(row, tied_logits(600, 3.f, row.top_k), "u at the ends");
    }
}

}  // namespace
}  // namespace llmr::testing
#endif
