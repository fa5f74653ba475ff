#include "cli/shared_flags.h"

#include <random>

#include "cli/model_path.h"

namespace llmr::cli {

const std::set<std::string> kEngineFlags = {"-m", "-t", "-c", "--device", "--kv-type"};
const std::set<std::string> kSamplingFlags = {"--temp",           "--top-k",          "--top-p", "--min-p",
                                              "--repeat-penalty", "--repeat-last-n", "--seed"};

std::set<std::string> flags(std::initializer_list<std::set<std::string>> sets) {
  std::set<std::string> all;
  for (const auto& s : sets) all.insert(s.begin(), s.end());
  return all;
}

EngineOptions engine_options(const Args& args) {
  EngineOptions options;
  options.model_path = model_path(args);
  options.device = args.get_or("--device", "cpu");
  options.threads = int(args.get_int("-t", 0, 0, 1024));
  options.n_ctx = args.get_int("-c", 0, 0, 1 << 24);
  options.kv_type = parse_dtype(args.get_or("--kv-type", "f16"));
  return options;
}

SamplingParams sampling_params(const Args& args) {
  SamplingParams sampling;
  sampling.temperature = float(args.get_float("--temp", 0.8, 0, 100));
  sampling.top_k = int(args.get_int("--top-k", 40, 0, 1 << 24));
  sampling.top_p = float(args.get_float("--top-p", 0.95, 0, 1));
  sampling.min_p = float(args.get_float("--min-p", 0.05, 0, 1));
  sampling.repeat_penalty = float(args.get_float("--repeat-penalty", 1.0, 0.01, 100));
  sampling.repeat_last_n = int(args.get_int("--repeat-last-n", 64, 0, 1 << 20));
  sampling.seed = args.has("--seed") ? uint64_t(args.get_int("--seed", 0, 0, INT64_MAX)) : std::random_device{}();
  sampling.validate();
  return sampling;
}

}  // namespace llmr::cli
