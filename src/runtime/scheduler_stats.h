#pragma once
// Counters and latency histograms of the scheduler, for /metrics.
#include <array>
#include <cstdint>

#include "runtime/paged_kv.h"

namespace llmr {

struct LatencyHistogram {
  static constexpr std::array<double, 12> bounds{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  std::array<int64_t, bounds.size() + 1> counts{};  // last = over every bound
  double sum = 0;
  int64_t count = 0;
  void observe(double seconds) {
    size_t i = 0;
    while (i < bounds.size() && seconds > bounds[i]) ++i;
    ++counts[i];
    sum += seconds;
    ++count;
  }
};

struct SchedulerStats {
  int64_t queue_depth = 0, running = 0;
  int64_t prompt_tokens = 0, generated_tokens = 0, steps = 0;
  int64_t finished = 0, cancelled = 0, failed = 0;
  KvBlockStats kv;
  LatencyHistogram ttft, inter_token;
};

}  // namespace llmr
