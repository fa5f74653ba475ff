// llmr bench: prompt processing and generation speed, printed as llama-bench's markdown table.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <map>
#include <random>

#include "backend/cpu/cpu_backend.h"
#include "cli/args.h"
#include "cli/command.h"
#include "cli/model_path.h"
#include "runtime/engine.h"
#include "runtime/tp_degree.h"
#include "runtime/tp_transformer.h"

namespace llmr::cli {
namespace {

struct Stats {
  double mean = 0, stddev = 0, median = 0;
};

Stats summarize(std::vector<double> v) {
  Stats s;
  for (double x : v) s.mean += x / double(v.size());
  if (v.size() > 1) {
    double ss = 0;
    for (double x : v) ss += (x - s.mean) * (x - s.mean);
    s.stddev = std::sqrt(ss / double(v.size() - 1));  // sample standard deviation, as llama-bench
  }
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  s.median = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

// "llama 1.5B Q4_0": architecture, parameter count and the type holding most matrix weights.
std::string model_label(const LoadedModel& m, int64_t params) {
  std::map<DType, int64_t> by_type;
  for (const auto& e : m.file.tensors)
    if (e.tensor.ndim >= 2) by_type[e.tensor.type] += e.tensor.rows() * e.tensor.cols();
  DType main = DType::F32;
  int64_t most = -1;
  for (const auto& [t, n] : by_type)
    if (n > most) most = n, main = t;
  char size[32];
  if (params >= 1'000'000'000) std::snprintf(size, sizeof size, "%.1fB", double(params) / 1e9);
  else std::snprintf(size, sizeof size, "%.0fM", double(params) / 1e6);
  return std::string(architecture_name(m.config.arch)) + " " + size + " " + upper(name(main));
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The recorded step's kernels, each run alone with the cache emptied, grouped by kernel and launch
// shape, most time first: a markdown table after the speed table.
void print_step_kernels(const std::vector<KernelTime>& kernels) {
  if (kernels.empty()) {
    std::printf("\nstep kernels: none recorded (a backend without recorded steps, or LLMR_CUDA_GRAPHS=0)\n");
    return;
  }
  struct Group {
    const KernelTime* first;
    int count = 0;
    double total = 0;
  };
  std::vector<Group> groups;
  double step = 0;
  for (const KernelTime& k : kernels) {
    step += k.microseconds;
    auto same = [&](const Group& g) {
      return g.first->name == k.name && g.first->blocks == k.blocks && g.first->threads == k.threads;
    };
    auto it = std::find_if(groups.begin(), groups.end(), same);
    if (it == groups.end()) it = groups.insert(groups.end(), Group{&k});
    it->count += 1;
    it->total += k.microseconds;
  }
  std::stable_sort(groups.begin(), groups.end(), [](const Group& a, const Group& b) { return a.total > b.total; });
  std::printf("\n| step kernel (each alone, cache emptied) | blocks | threads | count | us each | us total | share |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const Group& g : groups)
    std::printf("| %s | %lld | %d | %d | %.2f | %.1f | %.1f%% |\n", g.first->name.c_str(), (long long)g.first->blocks,
                g.first->threads, g.count, g.total / g.count, g.total, 100.0 * g.total / step);
  std::printf("| all %zu kernels | | | | | %.1f | |\n", kernels.size(), step);
  std::fflush(stdout);
}

// Each group of the recorded step's kernels knocked out of it: the step's time it costs, overlap
// included, most first.
void print_step_knockout(std::vector<KernelKnockout> groups) {
  if (groups.empty()) {
    std::printf("\nstep knockout: none recorded (a backend without recorded steps, or LLMR_CUDA_GRAPHS=0)\n");
    return;
  }
  auto saved = [](const KernelKnockout& g) { return g.step_us - g.without_us; };
  std::stable_sort(groups.begin(), groups.end(), [&](const auto& a, const auto& b) { return saved(a) > saved(b); });
  std::printf("\n| step kernels knocked out | blocks | threads | count | step us | without them | saved us | "
              "saved per kernel |\n");
  std::printf("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (const KernelKnockout& g : groups)
    std::printf("| %s | %lld | %d | %d | %.1f | %.1f | %.1f | %.2f |\n", g.name.c_str(), (long long)g.blocks, g.threads,
                g.count, g.step_us, g.without_us, saved(g), saved(g) / g.count);
  std::fflush(stdout);
}

int bench(const std::vector<std::string>& argv) {
  Args args(argv, {"-m", "-p", "-n", "-r", "--device", "-t", "-b", "--kv-type", "--seed", "--tp", "-c"},
            {"--step-kernels", "--step-knockout"});
  const int64_t n_prompt = args.get_int("-p", 512, 0, 1 << 20);
  const int64_t n_gen = args.get_int("-n", 128, 0, 1 << 20);
  // -c N: every test runs in a context of N tokens; by default each test's context is its own length,
  // as llama-bench's (n_ctx = n_prompt + n_gen of the test: pp512 in 512, tg128 in 128).
  const int64_t n_ctx = args.get_int("-c", 0, 0, 1 << 24);
  check(n_ctx == 0 || n_ctx >= std::max(n_prompt, n_gen),
        "bench: -c " + std::to_string(n_ctx) + " is shorter than a test (-p " + std::to_string(n_prompt) + ", -n " +
            std::to_string(n_gen) + ")");
  auto context_of = [&](int64_t test_tokens) { return n_ctx ? n_ctx : std::max<int64_t>(test_tokens, 1); };
  const int reps = int(args.get_int("-r", 5, 1, 10000));
  const int64_t batch = args.get_int("-b", 512, 1, 1 << 20);
  check(n_prompt > 0 || n_gen > 0, "bench: -p and -n are both 0; nothing to measure");
  EngineOptions options;
  options.model_path = model_path(args);
  options.device = args.get_or("--device", "cpu");
  options.threads = int(args.get_int("-t", 0, 0, 1024));
  options.n_ctx = std::max(context_of(n_prompt), context_of(n_gen));
  options.kv_type = parse_dtype(args.get_or("--kv-type", "f16"));
  // --tp N: tensor parallelism; 1 runs the sharded path on one device, more is refused until NCCL exists.
  const int tp = int(args.get_int("--tp", 0, 1, 1024));
  if (args.has("--tp")) check_tp_degree_available(tp, options.device);
  Engine engine(options);
  Transformer& model = engine.transformer();
  Backend& backend = engine.backend();

  int64_t params = 0;
  uint64_t bytes = 0;
  for (const auto& e : engine.model().file.tensors) {
    int64_t n = 1;
    for (int d = 0; d < e.tensor.ndim; ++d) n *= e.tensor.shape[d];
    params += n;
    bytes += e.nbytes;
  }
  int threads = options.threads;
  if (auto* cpu = dynamic_cast<CpuBackend*>(&backend)) threads = cpu->pool().size();

  // Random token ids, so models without a vocabulary (synth) work too.
  std::mt19937_64 rng(uint64_t(args.get_int("--seed", 1234, 0, INT64_MAX)));
  std::uniform_int_distribution<int32_t> token(0, int32_t(engine.config().n_vocab - 1));
  std::unique_ptr<KvCache> cache;
  std::unique_ptr<TensorParallelTransformer> tp_model;
  std::unique_ptr<TpKvCache> tp_cache;
  if (tp > 0)
    tp_model = std::make_unique<TensorParallelTransformer>(engine.config(), engine.model().weights,
                                                           std::vector<Backend*>{&backend});
  // A test's own KV cache, made before its warm-up as llama-bench makes a context per test.
  auto new_context = [&](int64_t tokens) {
    cache.reset();
    tp_cache.reset();
    if (tp_model) tp_cache = tp_model->new_cache(context_of(tokens), options.kv_type);
    else cache = engine.new_cache(context_of(tokens));
  };
  auto forward = [&](std::span<const int32_t> ids, int64_t pos) {
    if (tp_model) tp_model->forward(ids, pos, *tp_cache);
    else model.forward(ids, pos, *cache);
  };
  auto prompt_processing = [&] {
    std::vector<int32_t> ids(static_cast<size_t>(n_prompt));
    for (auto& id : ids) id = token(rng);
    backend.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t i = 0; i < n_prompt; i += batch) {
      const int64_t len = std::min(batch, n_prompt - i);
      forward(std::span<const int32_t>(ids).subspan(size_t(i), size_t(len)), i);
    }
    backend.synchronize();
    return double(n_prompt) / seconds_since(t0);
  };
  auto generation = [&](int64_t n) {
    backend.synchronize();
    const auto t0 = std::chrono::steady_clock::now();
    int32_t id = token(rng);
    for (int64_t i = 0; i < n; ++i) {
      forward(std::span<const int32_t>(&id, 1), i);
      id = token(rng);  // the next id is not sampled: the logits are read back all the same
    }
    backend.synchronize();
    return double(n) / seconds_since(t0);
  };

  const std::string label = model_label(engine.model(), params);
  char size[32], nparams[32];
  std::snprintf(size, sizeof size, "%.2f GiB", double(bytes) / double(1ull << 30));
  if (bytes < (1ull << 30)) std::snprintf(size, sizeof size, "%.2f MiB", double(bytes) / double(1ull << 20));
  std::snprintf(nparams, sizeof nparams, "%.2f %s", params >= 1'000'000'000 ? double(params) / 1e9 : double(params) / 1e6,
                params >= 1'000'000'000 ? "B" : "M");
  std::printf("| model | size | params | backend | threads | test | t/s | median t/s |\n");
  std::printf("| --- | ---: | ---: | --- | ---: | ---: | ---: | ---: |\n");
  std::fflush(stdout);
  auto row = [&](const std::string& test, const std::function<double()>& once) {
    std::vector<double> rates;
    for (int r = 0; r < reps; ++r) rates.push_back(once());
    const Stats s = summarize(rates);
    // Each run's rate, in order: a first run slower than the rest says the warm-up fell short.
    std::fprintf(stderr, "%s runs (t/s):", test.c_str());
    for (const double r : rates) std::fprintf(stderr, " %.2f", r);
    std::fprintf(stderr, "\n");
    std::printf("| %s | %s | %s | %s | %d | %s | %.2f ± %.2f | %.2f |\n", label.c_str(), size, nparams,
                (upper(backend.name()) + (tp > 0 ? " TP" + std::to_string(tp) : "")).c_str(), threads, test.c_str(),
                s.mean, s.stddev, s.median);
    std::fflush(stdout);
  };
  // Each test as llama-bench runs it: its context, a warm-up (one full prompt, or generated tokens: page
  // in weights, size scratch), then the timed repetitions. Two warm-up tokens, where llama-bench takes
  // one: a step with new buffers runs directly and the next one records the step (CUDA graphs), which
  // the first timed run would otherwise pay for (H200 Q4_K tg128: 543.9 +- 4.8 -> 547.7 +- 1.0,
  // docs/measurements/2026-11-29-h200-17/bench_bisect.log).
  if (n_prompt > 0) {
    new_context(n_prompt);
    prompt_processing();
    row("pp" + std::to_string(n_prompt), prompt_processing);
  }
  if (n_gen > 0) {
    new_context(n_gen);
    generation(std::min<int64_t>(2, n_gen));
    row("tg" + std::to_string(n_gen), [&] { return generation(n_gen); });
  }
  if (model.graph_kernels() > 0)  // which kernels ran is the first question when a figure moves
    std::fprintf(stderr, "generation: a recorded step of %lld kernels\n", (long long)model.graph_kernels());
  // --step-kernels: where a generated token's time goes, after the timed runs (it spoils the cache).
  if (args.has("--step-kernels") && n_gen > 0) print_step_kernels(model.time_step_kernels(reps < 5 ? 5 : reps));
  // --step-knockout: what each group of the step's kernels costs inside it (21 replays with, 21 without).
  if (args.has("--step-knockout") && n_gen > 0) print_step_knockout(model.knockout_step_kernels(21));
  if (tp_model)
    std::fprintf(stderr, "tensor parallel %d: %.3f s in collectives (rank 0, warm-up included)\n", tp,
                 tp_model->collective_seconds());
  return 0;
}

RegisterCommand reg({"bench", "prompt and generation speed as llama-bench's table (-m MODEL -p 512 -n 128 -r 5 [-c CTX])",
                     &bench});

}  // namespace
}  // namespace llmr::cli
