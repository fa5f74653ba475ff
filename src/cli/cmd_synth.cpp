// llmr synth: a random-weight model of a real shape (llama3-8b, qwen2-7b, ...), for benchmarks.
#include <cstdio>
#include <optional>
#include <random>

#include "cli/args.h"
#include "cli/command.h"
#include "format/model_file.h"
#include "model/synthetic_model.h"

namespace llmr::cli {
namespace {

int synth(const std::vector<std::string>& argv) {
  Args args(argv, {"--shape", "--type", "--seed", "-t", "--vocab-from"}, {});
  std::string shapes;
  for (const auto& n : synthetic_shape_names()) shapes += (shapes.empty() ? "" : "|") + n;
  check(args.positional().size() == 1 && args.has("--shape"),
        "usage: llmr synth --shape " + shapes + " [--type q4_0|q4_k|q6_k|q8_0|f16] [--seed S] [-t N] [--vocab-from MODEL.gguf] OUT.gguf");
  const std::string shape = *args.get("--shape");
  ModelConfig config = synthetic_shape(shape);
  const DType type = parse_dtype(args.get_or("--type", "q4_0"));
  const uint64_t seed = args.has("--seed") ? uint64_t(args.get_int("--seed", 0, 0, INT64_MAX)) : std::random_device{}();
  const int threads = int(args.get_int("-t", 0, 0, 1024));
  const std::string out = args.positional()[0];

  // --vocab-from: another model's tokenizer, padded to the shape's vocabulary, so the file can be served.
  std::optional<Metadata> vocab;
  if (auto from = args.get("--vocab-from")) {
    const ModelFile source = open_gguf(*from);
    const int64_t tokens = tokenizer_token_count(source.metadata);
    check(tokens > 0, "synth --vocab-from: " + *from + " has no tokenizer");
    if (tokens > config.n_vocab) {  // the small test shapes: grow the vocabulary rather than drop tokens
      std::printf("%s: vocabulary grown from %lld to %lld rows to hold the tokenizer of %s\n", shape.c_str(),
                  (long long)config.n_vocab, (long long)tokens, from->c_str());
      config.n_vocab = tokens;
    }
    vocab = synthetic_vocab_from(source.metadata, config.n_vocab);
  }

  const SyntheticModelInfo made = write_synthetic_model(config, type, seed, out, threads, vocab ? &*vocab : nullptr);
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
