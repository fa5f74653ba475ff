#pragma once
// Prometheus text for /metrics: requests by route and status from here, the rest from the scheduler.
#include <map>
#include <mutex>
#include <string>
#include <utility>

#include "runtime/scheduler_stats.h"

namespace llmr::server {

class RequestMetrics {
 public:
  void count(const std::string& route, int status);
  std::string render(const SchedulerStats& s) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, int64_t> requests_;
};

}  // namespace llmr::server
