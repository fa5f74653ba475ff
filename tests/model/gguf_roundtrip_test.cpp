// The fixtures converted with llmr's own converter: f32/f16/q8_0 GGUF files reproduce transformers'
// greedy continuation; q4_0's agreement is measured and reported.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <unistd.h>

#include "backend/cpu/cpu_backend.h"
#include "fixture_util.h"
#include "model/gguf_export.h"
#include "model/loaded_model.h"
#include "model/transformer.h"
#include "runtime/generator.h"

namespace llmr {
namespace {

struct Case {
  std::string fixture;
  DType type;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
  std::string n = info.param.fixture + "_" + name(info.param.type);
  for (auto& ch : n)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return n;
}

std::filesystem::path temp_gguf(const Case& c) {
  auto dir = std::filesystem::temp_directory_path() / ("llmr-test-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  return dir / (c.fixture + "-" + name(c.type) + ".gguf");
}

CpuBackend& cpu() {
  static CpuBackend b(2);
  return b;
}

std::vector<int32_t> greedy(const LoadedModel& m, const std::vector<int32_t>& prompt, size_t n) {
  Transformer tf(m.config, m.weights, cpu());
  KvCache cache(m.config, 64, DType::F32);
  SamplingParams p;
  p.temperature = 0;
  Generator gen(tf, cache, p);
  return gen.generate(prompt, int64_t(n), nullptr);
}

// Weight rounding bounds the logit error: f16 keeps 11 significant bits, q8_0 about 8, q4_0 about 4.
double max_relative_logit_error(DType t) {
  switch (t) {
    case DType::F16: return 2e-3;
    case DType::Q8_0: return 2e-2;
    default: return 0.2;
  }
}

class GgufRoundTrip : public ::testing::TestWithParam<Case> {};

TEST_P(GgufRoundTrip, GreedyContinuation) {
  const Case& c = GetParam();
  auto f = testing::load_fixture(c.fixture);
  const auto path = temp_gguf(c);
  convert_hf_to_gguf(f.dir, path, c.type);
  auto m = load_model(path);
  ASSERT_EQ(m->file.format, FileFormat::Gguf);
  // Logit error of the whole prompt pass, relative to the largest logit, per weight type.
  {
    Transformer tf(m->config, m->weights, cpu());
    KvCache cache(m->config, 64, DType::F32);
    Tensor got = tf.forward(f.ids("prompt_ids"), 0, cache, true);
    const Tensor want = f.prompt_logits();
    double worst = 0, scale = 1;
    for (int64_t r = 0; r < got.rows(); ++r)
      for (int64_t i = 0; i < got.cols(); ++i) {
        worst = std::max(worst, double(std::fabs(got.row<float>(r)[i] - want.row<float>(r)[i])));
        scale = std::max(scale, double(std::fabs(want.row<float>(r)[i])));
      }
    std::printf("[ report ] %s %s: prompt logits max abs error %.2e of the largest logit\n", c.fixture.c_str(),
                name(c.type), worst / scale);
    EXPECT_LT(worst / scale, max_relative_logit_error(c.type));
  }
  const auto want = f.ids("greedy_continuation");
  const auto got = greedy(*m, f.ids("prompt_ids"), want.size());
  std::filesystem::remove(path);
  ASSERT_EQ(got.size(), want.size());
  size_t agree = 0;
  while (agree < want.size() && got[agree] == want[agree]) ++agree;
  std::printf("[ report ] %s %s: %zu of %zu greedy tokens agree with transformers before the first difference\n",
              c.fixture.c_str(), name(c.type), agree, want.size());
  // q4_0 is lossy enough to flip near-ties of random weights: its agreement is reported, and its
  // logit error bounded above; f16 and q8_0 must reproduce transformers' tokens.
  if (c.type != DType::Q4_0) EXPECT_EQ(got, want);
}

TEST(GgufRoundTrip, F32FileGivesTheSameLogitsAsTheSafetensors) {
  // Exercises the interleaved-rope permutation: llama q/k rows are reordered on the way into GGUF.
  for (const auto& name_ : {"llama2", "llama3", "qwen3"}) {
    auto f = testing::load_fixture(name_);
    const auto path = temp_gguf({name_, DType::F32});
    convert_hf_to_gguf(f.dir, path, DType::F32);
    auto hf = load_model(f.dir);
    auto gg = load_model(path);
    Transformer a(hf->config, hf->weights, cpu()), b(gg->config, gg->weights, cpu());
    KvCache ca(hf->config, 32, DType::F32), cb(gg->config, 32, DType::F32);
    const auto prompt = f.ids("prompt_ids");
    Tensor la = a.forward(prompt, 0, ca, true);
    Tensor lb = b.forward(prompt, 0, cb, true);
    double worst = 0;
    for (int64_t r = 0; r < la.rows(); ++r)
      for (int64_t i = 0; i < la.cols(); ++i)
        worst = std::max(worst, double(std::fabs(la.row<float>(r)[i] - lb.row<float>(r)[i])));
    EXPECT_LT(worst, 1e-3) << name_;
    std::filesystem::remove(path);
  }
}

std::vector<Case> all_cases() {
  std::vector<Case> cases;
  for (const auto& fx : testing::fixture_names())
    for (DType t : {DType::F16, DType::Q8_0, DType::Q4_0}) cases.push_back({fx, t});
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Fixtures, GgufRoundTrip, ::testing::ValuesIn(all_cases()), case_name);

}  // namespace
}  // namespace llmr
