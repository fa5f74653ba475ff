// llmr synth: a random-weight model of a real shape (llama3-8b, qwen2-7b, ...), for benchmarks.
#include <cstdio>
#include <random>

#include "cli/args.h"
#include "cli/command.h"
#include "model/synthetic_model.h"

namespace llmr::cli {
namespace {

int synth(const std::vector<std::string>& argv) {
  Args args(argv, {"--shape", "--type", "--seed", "-t"}, {});
  std::string shapes;
  for (const auto& n : synthetic_shape_names()) shapes += (shapes.empty() ? "" : "|") + n;
  check(args.positional().size() == 1 && args.has("--shape"),
        "usage: llmr synth --shape " + shapes + " [--type q4_0|q4_k|q6_k|q8_0|f16] [--seed S] [-t N] OUT.gguf");
  const std::string shape = *args.get("--shape");
  const ModelConfig config = synthetic_shape(shape);
  const DType type = parse_dtype(args.get_or("--type", "q4_0"));
  const uint64_t seed = args.has("--seed") ? uint64_t(args.get_int("--seed", 0, 0, INT64_MAX)) : std::random_device{}();
  const int threads = int(args.get_int("-t", 0, 0, 1024));
  const std::string out = args.positional()[0];

  const SyntheticModelInfo made = write_synthetic_model(config, type, seed, out, threads);
  const bool billions = made.parameters >= 1'000'000'000;
  std::printf("%s: %s %s, %.2f %s parameters, %.1f MiB, seed %llu, written in %.1f s\n", out.c_str(), shape.c_str(),
              info(type).name, double(made.parameters) / (billions ? 1e9 : 1e6), billions ? "B" : "M",
              double(made.file_bytes) / double(1ull << 20), (unsigned long long)seed, made.seconds);
  return 0;
}

RegisterCommand reg({"synth", "write a random-weight model of a real shape (--shape llama3-8b --type q4_0 OUT.gguf)",
                     &synth});

}  // namespace
}  // namespace llmr::cli
