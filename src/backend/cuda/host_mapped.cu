#include "backend/cuda/host_mapped.h"

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

namespace llmr::cuda_ops {
namespace {

std::mutex mutex;
// Ranges [begin, end). A freed range may stay: under unified addressing no device allocation takes
// its addresses, so whatever later lies there is host memory too. A model's steps note one buffer.
std::vector<std::pair<uintptr_t, uintptr_t>> ranges;

}  // namespace

void note_host_mapped(const void* p, size_t bytes) {
  const auto begin = reinterpret_cast<uintptr_t>(p);
  const std::pair<uintptr_t, uintptr_t> range{begin, begin + bytes};
  std::lock_guard<std::mutex> lock(mutex);
  if (std::find(ranges.begin(), ranges.end(), range) == ranges.end()) ranges.push_back(range);
}

bool host_mapped(const void* p) {
  const auto a = reinterpret_cast<uintptr_t>(p);
  std::lock_guard<std::mutex> lock(mutex);
  return std::any_of(ranges.begin(), ranges.end(), [a](const auto& r) { return a >= r.first && a < r.second; });
}

}  // namespace llmr::cuda_ops
