// CUDA paths the shared batteries do not reach: rows wider than the RMSNorm registers hold, rope and
// embedding calls split over several launches (kernel-parameter limits), the inv_freq cache, device
// placement errors and the memory interface. Each against the reference on fresh random inputs.
#include <cmath>
#include <cstring>
#include <vector>

#include "ops/op_battery.h"
#include "tensor/quant.h"

namespace llmr::testing {
namespace {

double rtol_of(DType t) { return t == DType::F32 ? 5e-6 : t == DType::F16 ? 2e-3 : 1.6e-2; }

CudaBackend& cuda() { return cuda_mirror().cuda(); }

TEST(CudaCoreOps, RmsNormRowsWiderThanRegistersTakeTheLoop) {
  // 40000 (vectorisable) and 16385 (not) both exceed the 16384 elements a block holds in registers.
  for (DType t : {DType::F32, DType::F16, DType::BF16})
    for (int64_t n : {40000, 16385}) {
      const std::string what = std::string(name(t)) + " n=" + std::to_string(n);
      Strided x(t, 3, n, 4), y(t, 3, n, 8), expect(t, 3, n), w(DType::F32, 1, n);
      x.randomize(-2.f, 2.f);
      w.randomize(-1.5f, 1.5f);
      reference().rms_norm(x.t(), w.t(), 1e-6f, expect.t());
      cuda_mirror().rms_norm(x.t(), w.t(), 1e-6f, y.t());
      expect_close(y.t(), expect.t(), 1e-30, rtol_of(t), "wide rms_norm " + what);
      EXPECT_TRUE(y.padding_intact()) << what;

      Strided r(t, 3, n), sum(t, 3, n), y2(t, 3, n), expect_sum(t, 3, n), expect_y(t, 3, n);
      r.randomize(-2.f, 2.f);
      reference().rms_norm_residual(x.t(), r.t(), w.t(), 1e-6f, expect_sum.t(), expect_y.t());
      cuda_mirror().rms_norm_residual(x.t(), r.t(), w.t(), 1e-6f, x.t(), y2.t());  // sum written over x
      expect_close(x.t(), expect_sum.t(), 0, 0, "wide residual sum " + what);
      expect_close(y2.t(), expect_y.t(), 1e-30, rtol_of(t), "wide residual y " + what);
    }
}

TEST(CudaCoreOps, WideRowsOfExtremeMagnitudeAreRescaled) {
  const int64_t n = 20000;
  for (float magnitude : {1e18f, 3e38f, 1e-20f}) {
    Strided x(DType::F32, 2, n), y(DType::F32, 2, n), expect(DType::F32, 2, n), w(DType::F32, 1, n);
    x.randomize(-1.f, 1.f);
    fill(x.t(), [&](int64_t i) { return element(x.t(), i / n, i % n) * magnitude; });
    w.randomize(0.5f, 1.5f);
    reference().rms_norm(x.t(), w.t(), 0.f, expect.t());
    cuda_mirror().rms_norm(x.t(), w.t(), 0.f, y.t());
    expect_close(y.t(), expect.t(), 1e-30, rtol_of(DType::F32), "wide rms_norm magnitude " + std::to_string(magnitude));
  }
}

TEST(CudaCoreOps, RmsNormMatmulFusedIsBitEqualToNormThenMatmul) {
  // The fused path (T <= 2) quantizes the norm in registers: the same XBlocks as rms_norm, then
  // quantize_x, so the same products to the bit; rows of extreme magnitude take the norm's rescaling.
  for (DType type : {DType::Q4_0, DType::Q8_0, DType::Q4_K})
    for (int64_t n : {2048, 4096})
      for (int64_t T : {1, 2})
        for (float magnitude : {1.f, 1e18f, 1e-20f}) {
          const std::string what = std::string(name(type)) + " n=" + std::to_string(n) + " T=" + std::to_string(T) +
                                   " magnitude " + std::to_string(magnitude);
          const int64_t out = 300;
          HostBuffer w(type, {out, n});
          for (int64_t r = 0; r < out; ++r) {
            const auto v = random_floats(size_t(n), -1.f, 1.f);
            quantize_row(type, v.data(), w.tensor().row(r), n);
          }
          Strided x(DType::F32, T, n), norm_w(DType::F32, 1, n), h(DType::F32, T, n), expect(DType::F32, T, out),
              y(DType::F32, T, out);
          x.randomize(-2.f, 2.f);
          fill(x.t(), [&](int64_t i) { return element(x.t(), i / n, i % n) * magnitude; });
          norm_w.randomize(0.5f, 1.5f);
          const Tensor nw = Tensor::view(norm_w.t().data, DType::F32, {n});
          cuda_mirror().rms_norm(x.t(), nw, 1e-6f, h.t());
          cuda_mirror().matmul(h.t(), w.tensor(), nullptr, expect.t());
          cuda_mirror().rms_norm_matmul(x.t(), nw, 1e-6f, h.t(), w.tensor(), y.t());
          expect_close(y.t(), expect.t(), 0, 0, "rms_norm_matmul " + what);
        }
}

TEST(CudaCoreOps, RopeOverManyRowsSpansLaunches) {
  const int heads = 4, hd = 64;
  std::vector<float> f(hd / 2);
  for (int i = 0; i < hd / 2; ++i) f[size_t(i)] = float(std::pow(10000.0, -2.0 * i / hd));
  std::uniform_int_distribution<int32_t> any(0, 50000);
  for (RopeLayout layout : {RopeLayout::NeoX, RopeLayout::Interleaved}) {
    const int64_t rows = 2000;  // more than one launch's worth of positions
    Strided x(DType::F32, rows, heads * hd, 3), expect(DType::F32, rows, heads * hd);
    x.randomize(-2.f, 2.f);
    expect.copy_from(x);
    std::vector<int32_t> pos(static_cast<size_t>(rows));
    for (auto& p : pos) p = any(rng());
    const RopeSpec spec{hd, hd, layout, f.data()};
    reference().rope(expect.t(), heads, pos, spec);
    cuda_mirror().rope(x.t(), heads, pos, spec);
    expect_close(x.t(), expect.t(), 2e-6, 2e-6, "rope over 2000 rows");
    EXPECT_TRUE(x.padding_intact());
  }
}

TEST(CudaCoreOps, RopeNoticesNewInvFreqValues) {
  // The device copy of inv_freq is reused while the values are the same: changing them in the same
  // host array, or passing another array, must take effect.
  const int hd = 32;
  std::vector<float> f(hd / 2);
  for (int round = 0; round < 3; ++round) {
    const double base = round == 1 ? 500000.0 : 10000.0;
    for (int i = 0; i < hd / 2; ++i) f[size_t(i)] = float(std::pow(base, -2.0 * i / hd));
    Strided x(DType::F32, 3, 2 * hd), expect(DType::F32, 3, 2 * hd);
    x.randomize();
    expect.copy_from(x);
    const std::vector<int32_t> pos{5, 900, 31};
    reference().rope(expect.t(), 2, pos, {hd, hd, RopeLayout::NeoX, f.data()});
    cuda_mirror().rope(x.t(), 2, pos, {hd, hd, RopeLayout::NeoX, f.data()});
    expect_close(x.t(), expect.t(), 2e-6, 2e-6, "rope after inv_freq change, round " + std::to_string(round));
  }
}

TEST(CudaCoreOps, EmbeddingOfManyIdsSpansLaunches) {
  for (DType type : {DType::Q4_K, DType::Q6_K, DType::BF16}) {
    const int64_t vocab = 50, dim = 512;
    HostBuffer table(type, {vocab, dim});
    for (int64_t r = 0; r < vocab; ++r) {
      const auto v = random_floats(size_t(dim), -2.f, 2.f);
      quantize_row(type, v.data(), table.tensor().row(r), dim);
    }
    std::uniform_int_distribution<int32_t> pick(0, int32_t(vocab - 1));
    std::vector<int32_t> ids(2000);
    for (auto& id : ids) id = pick(rng());
    HostBuffer out(DType::F32, {int64_t(ids.size()), dim});
    cuda_mirror().embedding(table.tensor(), ids, out.tensor());
    std::vector<float> want(static_cast<size_t>(dim));
    for (size_t t = 0; t < ids.size(); ++t) {
      dequantize_row(type, table.tensor().row(ids[t]), want.data(), dim);
      ASSERT_EQ(std::memcmp(want.data(), out.tensor().row<float>(int64_t(t)), size_t(dim) * 4), 0)
          << name(type) << " position " << t << " id " << ids[t];
    }
  }
}

TEST(CudaCoreOps, SoftmaxOfAVocabularyWideRow) {
  Strided x(DType::F32, 2, 200003), expect(DType::F32, 2, 200003);
  x.randomize(-25.f, 25.f);
  expect.copy_from(x);
  reference().softmax(expect.t());
  cuda_mirror().softmax(x.t());
  expect_close(x.t(), expect.t(), 1e-9, 2e-5, "softmax [2, 200003]");
}

TEST(CudaCoreOps, HostTensorsAreRefused) {
  Strided x(DType::F32, 2, 8), y(DType::F32, 2, 8), w(DType::F32, 1, 8);
  x.randomize();
  w.randomize();
  expect_error([&] { cuda().rms_norm(x.t(), w.t(), 1e-5f, y.t()); }, "rms_norm: x f32[2, 8] is on the host");
  expect_error([&] { cuda().add(x.t(), x.t(), y.t()); }, "add: a f32[2, 8] is on the host");
  expect_error([&] { cuda().softmax(x.t()); }, "softmax: x f32[2, 8] is on the host");
  expect_error([&] { cuda().copy(x.t(), y.t()); }, "copy: src f32[2, 8] is on the host");
}

TEST(CudaCoreOps, UploadDownloadRoundTripAndContiguity) {
  HostBuffer h(DType::F16, {7, 33});
  const auto v = random_floats(7 * 33, -100.f, 100.f);
  fill(h.tensor(), [&](int64_t i) { return v[size_t(i)]; });
  auto dev = cuda().upload(h.tensor());
  EXPECT_EQ(dev->tensor().device, Device::Cuda);
  EXPECT_EQ(dev->tensor().describe(), "f16[7, 33]");
  HostBuffer back(DType::F16, {7, 33});
  cuda().download(dev->tensor(), back.data());
  EXPECT_EQ(std::memcmp(h.data(), back.data(), 7 * 33 * 2), 0);
  // Ops on uploaded tensors, then a download of the result.
  auto out = cuda().alloc(DType::F32, {7, 33});
  cuda().copy(dev->tensor(), out->tensor());
  std::vector<float> got(7 * 33);
  cuda().download(out->tensor(), got.data());
  for (int64_t i = 0; i < 7 * 33; ++i) ASSERT_EQ(got[size_t(i)], element(h.tensor(), i / 33, i % 33)) << i;
  // A strided view is refused by name.
  Tensor strided = out->tensor().slice_rows(0, 3);
  strided.shape[1] = 30;
  expect_error([&] { cuda().download(strided, got.data()); }, "cuda download: tensor f32[3, 30] is not contiguous");
  expect_error([&] { cuda().upload(strided); }, "cuda upload");
}

}  // namespace
}  // namespace llmr::testing
