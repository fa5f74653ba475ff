// llmr perplexity: exp(mean next-token loss) of a text file, in non-overlapping windows of the
// context size, every prediction of a window scored.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iterator>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/model_path.h"
#include "runtime/engine.h"

namespace llmr::cli {
namespace {

// -log softmax(logits)[target], in double.
double token_nll(const float* logits, int64_t n, int32_t target) {
  double max = logits[0];
  for (int64_t i = 1; i < n; ++i) max = std::max(max, double(logits[i]));
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - max);
  return std::log(sum) + max - double(logits[target]);
}

int perplexity(const std::vector<std::string>& argv) {
  Args args(argv, {"-m", "-f", "-c", "-t", "--device", "--chunks", "--kv-type"}, {});
  check(args.has("-f"), "usage: llmr perplexity [-m MODEL] -f TEXT_FILE [-c CTX]");
  EngineOptions options;
  options.model_path = model_path(args);
  options.device = args.get_or("--device", "cpu");
  options.threads = int(args.get_int("-t", 0, 0, 1024));
  options.kv_type = parse_dtype(args.get_or("--kv-type", "f32"));  // f32 by default: score the weights alone
  Engine engine(options);
  check(engine.tokenizer() != nullptr, "this model has no tokenizer, so it cannot read a text file");
  const int64_t ctx = args.get_int("-c", std::min<int64_t>(engine.config().n_ctx_train, 512), 2,
                                   engine.config().n_ctx_train);
  std::ifstream in(*args.get("-f"), std::ios::binary);
  check(bool(in), "cannot read '" + *args.get("-f") + "'");
  const std::string text((std::istreambuf_iterator<char>(in)), {});
  const std::vector<int32_t> ids = engine.tokenizer()->encode(text, true, false);
  const int64_t max_chunks = args.get_int("--chunks", -1, -1, INT32_MAX);
  std::fprintf(stderr, "perplexity: %zu tokens, windows of %lld\n", ids.size(), (long long)ctx);
  check(ids.size() >= 2, "the text is too short to score");

  auto cache = engine.new_cache(ctx);
  double sum = 0, sum_sq = 0;
  int64_t count = 0, chunk = 0;
  const int64_t vocab = engine.config().n_vocab;
  for (size_t begin = 0; begin + 1 < ids.size(); begin += size_t(ctx)) {
    if (max_chunks >= 0 && chunk >= max_chunks) break;
    const size_t n = std::min(ids.size() - begin, size_t(ctx));
    if (n < 2) break;
    Tensor logits = engine.transformer().forward({ids.data() + begin, n}, 0, *cache, true);
    for (size_t t = 0; t + 1 < n; ++t) {
      const double nll = token_nll(logits.row<float>(int64_t(t)), vocab, ids[begin + t + 1]);
      sum += nll;
      sum_sq += nll * nll;
      ++count;
    }
    ++chunk;
    std::printf("[%lld]%.4f,", (long long)chunk, std::exp(sum / double(count)));
    std::fflush(stdout);
  }
  const double mean = sum / double(count);
  const double var = std::max(0.0, sum_sq / double(count) - mean * mean);
  const double ppl = std::exp(mean);
  const double err = ppl * std::sqrt(var / double(std::max<int64_t>(1, count - 1)));
  std::printf("\nFinal estimate: PPL = %.4f +/- %.5f (mean loss %.5f over %lld tokens)\n", ppl, err, mean,
              (long long)count);
  return 0;
}

RegisterCommand reg({"perplexity", "perplexity of a text file (-f FILE [-c CTX])", &perplexity});

}  // namespace
}  // namespace llmr::cli
