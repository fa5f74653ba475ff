// Stacked projections: where a backend's upload copies, the Transformer stacks wq|wk|wv and
// w_gate|w_up into one matrix each and reads q, k, v, gate and up as column ranges of one product.
// Run on the CPU through a wrapper whose upload copies, the logits equal those of the plain layout.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "backend/cpu/cpu_backend.h"
#include "fixture_util.h"
#include "model/kv_cache.h"
#include "model/loaded_model.h"
#include "model/transformer.h"
#include "test_util.h"

namespace llmr::testing {
namespace {

// The CPU's ops, with an upload that copies into memory of its own (as a device backend's does).
class CopyingCpu final : public Backend {
 public:
  std::string name() const override { return "cpu-copying"; }
  bool upload_copies() const override { return true; }
  std::unique_ptr<Buffer> upload(const Tensor& host) override {
    std::vector<int64_t> shape(host.shape.begin(), host.shape.begin() + host.ndim);
    auto b = alloc(host.type, shape);
    std::memcpy(b->tensor().data, host.data, size_t(host.rows()) * row_bytes(host.type, host.cols()));
    ++uploads;
    return b;
  }
  void rms_norm(const Tensor& x, const Tensor& w, float eps, const Tensor& y) override { cpu.rms_norm(x, w, eps, y); }
  void rms_norm_residual(const Tensor& x, const Tensor& r, const Tensor& w, float eps, const Tensor& sum,
                         const Tensor& y) override {
    cpu.rms_norm_residual(x, r, w, eps, sum, y);
  }
  void embedding(const Tensor& t, std::span<const int32_t> ids, const Tensor& out) override { cpu.embedding(t, ids, out); }
  void matmul(const Tensor& x, const Tensor& w, const Tensor* b, const Tensor& y) override { cpu.matmul(x, w, b, y); }
  void rope(const Tensor& x, int n, std::span<const int32_t> pos, const RopeSpec& s) override { cpu.rope(x, n, pos, s); }
  void attention(const Tensor& q, const Tensor& k, const Tensor& v, std::span<const int32_t> pos,
                 const AttentionSpec& s, const Tensor& out) override {
    cpu.attention(q, k, v, pos, s, out);
  }
  void swiglu(const Tensor& g, const Tensor& u, const Tensor& out) override { cpu.swiglu(g, u, out); }
  void add(const Tensor& a, const Tensor& b, const Tensor& out) override { cpu.add(a, b, out); }
  void softmax(const Tensor& x) override { cpu.softmax(x); }
  void copy(const Tensor& src, const Tensor& dst) override { cpu.copy(src, dst); }

  CpuBackend cpu{2};
  int uploads = 0;
};

TEST(StackedWeights, LogitsEqualThePlainLayout) {
  for (const char* name : {"llama3", "mistral", "qwen2"}) {  // qwen2 has q/k/v biases: only gate|up stack
    auto f = load_fixture(name);
    auto m = load_model(f.dir);
    CpuBackend plain_backend(2);
    CopyingCpu copying;
    Transformer plain(m->config, m->weights, plain_backend), stacked(m->config, m->weights, copying);
    // One upload per bound tensor, but one for q|k|v (unless biased) and one for gate|up.
    const auto& c = m->config;
    const bool tied = m->weights.output.data == m->weights.token_embd.data;
    const int64_t per_layer = 9 + (c.qkv_bias ? 3 : 0) + (c.qk_norm ? 2 : 0) - (c.qkv_bias || c.qk_norm ? 0 : 2) - 1;
    EXPECT_EQ(copying.uploads, (tied ? 2 : 3) + c.n_layer * per_layer) << name;
    KvCache c1(m->config, 32, DType::F32), c2(m->config, 32, DType::F32, &copying);
    const std::vector<int32_t> prompt = f.ids("prompt_ids");
    std::vector<int32_t> steps = {prompt.back(), prompt.front(), 7};
    for (int s = -1; s < int(steps.size()); ++s) {
      const std::vector<int32_t> in = s < 0 ? prompt : std::vector<int32_t>{steps[size_t(s)]};
      const int64_t pos = s < 0 ? 0 : int64_t(prompt.size()) + s;
      const Tensor a = plain.forward(in, pos, c1, true);
      const std::vector<float> want(a.row<float>(0), a.row<float>(0) + a.rows() * a.cols());
      const Tensor b = stacked.forward(in, pos, c2, true);
      float err = 0, big = 0;
      for (size_t i = 0; i < want.size(); ++i) {
        err = std::max(err, std::fabs(want[i] - b.row<float>(0)[i]));
        big = std::max(big, std::fabs(want[i]));
      }
      EXPECT_LE(err, 1e-5f * big) << name << " step " << s;
    }
  }
}

}  // namespace
}  // namespace llmr::testing
