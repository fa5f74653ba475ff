// The in-process collectives: ranks on threads get the rank-ordered sum (identical bits on every
// rank), gathered column slices, and an error instead of a hang when ranks disagree or one fails.
#include <gtest/gtest.h>

#include <cstdlib>
#include <thread>

#include "runtime/tp_all_reduce.h"
#include "runtime/tp_nccl.h"
#include "test_util.h"

namespace llmr {
namespace {

using namespace llmr::testing;

// Runs fn(rank) on n threads and returns each rank's error message ("" if none).
std::vector<std::string> on_ranks(int n, const std::function<void(int)>& fn) {
  std::vector<std::string> errors(static_cast<size_t>(n));
  std::vector<std::thread> threads;
  for (int r = 0; r < n; ++r)
    threads.emplace_back([&, r] {
      try {
        fn(r);
      } catch (const Error& e) {
        errors[size_t(r)] = e.what();
      }
    });
  for (auto& t : threads) t.join();
  return errors;
}

TEST(InProcessAllReduce, SumIsRankOrderedAndIdenticalOnEveryRank) {
  for (int n : {1, 2, 3, 4}) {
    InProcessGroup group(n);
    const int64_t rows = 5, cols = 37, stride_cols = 40;  // strided rows: a view into a wider buffer
    std::vector<std::vector<float>> data;
    for (int r = 0; r < n; ++r) data.push_back(random_floats(size_t(rows * stride_cols), -100, 100));
    const auto original = data;
    for (int round = 0; round < 3; ++round) {  // repeated collectives reuse the group
      auto errors = on_ranks(n, [&](int r) {
        Tensor t = Tensor::view(data[size_t(r)].data(), DType::F32, {rows, stride_cols});
        t.shape[1] = cols;
        group.rank(r).sum(t);
      });
      for (const auto& e : errors) ASSERT_EQ(e, "");
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t c = 0; c < stride_cols; ++c) {
          const size_t at = size_t(i * stride_cols + c);
          float want = original[0][at];
          for (int r = 1; r < n; ++r) want += original[size_t(r)][at];
          if (round > 0 || c >= cols) continue;  // later rounds sum sums; padding is only checked below
          for (int r = 0; r < n; ++r) ASSERT_EQ(data[size_t(r)][at], want) << "rank " << r << " row " << i;
        }
      for (int r = 0; r < n; ++r)  // the padding past cols is never written
        for (int64_t i = 0; i < rows; ++i)
          for (int64_t c = cols; c < stride_cols; ++c)
            ASSERT_EQ(data[size_t(r)][size_t(i * stride_cols + c)], original[size_t(r)][size_t(i * stride_cols + c)]);
    }
  }
}

TEST(InProcessAllReduce, GatherColumnsPlacesEverySlice) {
  const int n = 3;
  InProcessGroup group(n);
  const int64_t rows = 4;
  const std::vector<int64_t> widths{7, 6, 6}, begins{0, 7, 13};
  std::vector<std::vector<float>> local, full(n, std::vector<float>(size_t(rows * 19), -1.f));
  for (int r = 0; r < n; ++r) local.push_back(random_floats(size_t(rows * widths[size_t(r)])));
  auto errors = on_ranks(n, [&](int r) {
    group.rank(r).gather_columns(Tensor::view(local[size_t(r)].data(), DType::F32, {rows, widths[size_t(r)]}),
                                 begins[size_t(r)], Tensor::view(full[size_t(r)].data(), DType::F32, {rows, 19}));
  });
  for (const auto& e : errors) ASSERT_EQ(e, "");
  for (int r = 0; r < n; ++r)
    for (int k = 0; k < n; ++k)
      for (int64_t i = 0; i < rows; ++i)
        for (int64_t c = 0; c < widths[size_t(k)]; ++c)
          ASSERT_EQ(full[size_t(r)][size_t(i * 19 + begins[size_t(k)] + c)],
                    local[size_t(k)][size_t(i * widths[size_t(k)] + c)]);
}

TEST(InProcessAllReduce, MismatchedShapesFailOnEveryRankWithoutHanging) {
  const int n = 2;
  InProcessGroup group(n);
  std::vector<float> a = random_floats(8), b = random_floats(8);
  auto errors = on_ranks(n, [&](int r) {
    group.rank(r).sum(Tensor::view((r ? b : a).data(), DType::F32, {r ? 4 : 2, r ? 2 : 4}));
  });
  for (const auto& e : errors) EXPECT_NE(e.find("different shapes"), std::string::npos) << e;
}

TEST(InProcessAllReduce, AbortWakesRanksWaitingForAFailedOne) {
  InProcessGroup group(3);
  std::vector<float> x = random_floats(4);
  auto errors = on_ranks(3, [&](int r) {
    if (r == 2) {
      group.abort();  // as a rank does when its own work throws
      throw Error("rank 2 failed");
    }
    std::vector<float> mine = x;
    group.rank(r).sum(Tensor::view(mine.data(), DType::F32, {1, 4}));
  });
  EXPECT_NE(errors[0].find("another rank failed"), std::string::npos) << errors[0];
  EXPECT_NE(errors[1].find("another rank failed"), std::string::npos) << errors[1];
  group.reset();
  errors = on_ranks(3, [&](int r) {
    std::vector<float> mine = x;
    group.rank(r).sum(Tensor::view(mine.data(), DType::F32, {1, 4}));
    EXPECT_EQ(mine[0], (x[0] + x[0]) + x[0]);
  });
  for (const auto& e : errors) EXPECT_EQ(e, "");
}

TEST(InProcessAllReduce, RefusesNonF32AndBadGroups) {
  InProcessGroup group(2);  // the type is checked before the rank waits for the other
  std::vector<uint16_t> h(4);
  EXPECT_THROW(group.rank(0).sum(Tensor::view(h.data(), DType::F16, {1, 4})), Error);
  EXPECT_THROW(group.rank(2), Error);
  EXPECT_THROW(InProcessGroup(0), Error);
}

TEST(Nccl, NvlinkMulticastIsSwitchedOff) {
  setenv("NCCL_NVLS_ENABLE", "1", 1);
  EXPECT_STREQ(disable_nvlink_multicast(), "1");
  EXPECT_STREQ(std::getenv("NCCL_NVLS_ENABLE"), "0");
  unsetenv("NCCL_NVLS_ENABLE");
  EXPECT_STREQ(disable_nvlink_multicast(), "");
  EXPECT_STREQ(std::getenv("NCCL_NVLS_ENABLE"), "0");
}

}  // namespace
}  // namespace llmr
