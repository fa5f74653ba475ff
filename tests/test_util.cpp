#include "test_util.h"

#include <cstdlib>
#include <cstdio>

namespace llmr::testing {

uint64_t test_seed() {
  static const uint64_t seed = [] {
    if (const char* s = std::getenv("LLMR_TEST_SEED")) return uint64_t(std::strtoull(s, nullptr, 10));
    uint64_t s = std::random_device{}();
    std::fprintf(stderr, "[llmr] random inputs seeded with LLMR_TEST_SEED=%llu\n", (unsigned long long)s);
    return s;
  }();
  return seed;
}

std::mt19937_64& rng() {
  static std::mt19937_64 g(test_seed());
  return g;
}

}  // namespace llmr::testing
