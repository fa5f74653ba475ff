// llmr run: generate text from a prompt, streamed to stdout; timings to stderr.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/shared_flags.h"
#include "runtime/engine.h"
#include "runtime/generator.h"
#include "runtime/tp_degree.h"
#include "runtime/tp_transformer.h"

namespace llmr::cli {
namespace {

std::vector<int32_t> parse_ids(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    char* end = nullptr;
    long v = std::strtol(item.c_str(), &end, 10);
    check(!item.empty() && *end == 0 && v >= 0 && v <= INT32_MAX, "--prompt-ids: '" + item + "' is not a token id");
    ids.push_back(int32_t(v));
  }
  check(!ids.empty(), "--prompt-ids is empty");
  return ids;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(bool(in), "cannot read prompt file '" + path + "'");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

int run(const std::vector<std::string>& argv) {
  Args args(argv, flags({kEngineFlags, kSamplingFlags, {"-p", "-f", "-n", "--prompt-ids", "-b", "--tp"}}),
            {"--output-ids", "--no-bos"});
  const EngineOptions options = engine_options(args);
  const SamplingParams sampling = sampling_params(args);
  const int64_t n_predict = args.get_int("-n", 128, 0, 1 << 24);
  const bool output_ids = args.has("--output-ids");
  // --tp N: tensor parallelism; 1 runs the sharded path on one device, more is refused until NCCL exists.
  const int tp = int(args.get_int("--tp", 0, 1, 1024));
  if (args.has("--tp")) check_tp_degree_available(tp, options.device);

  Engine engine(options);
  const Tokenizer* tok = engine.tokenizer();
  std::vector<int32_t> prompt;
  if (auto ids = args.get("--prompt-ids")) {
    prompt = parse_ids(*ids);
  } else {
    check(args.has("-p") || args.has("-f"), "give a prompt with -p TEXT, -f FILE or --prompt-ids 1,2,3");
    check(tok != nullptr, "this model has no tokenizer; give the prompt as --prompt-ids");
    const std::string text = args.has("-f") ? read_file(*args.get("-f")) : *args.get("-p");
    prompt = tok->encode(text, !args.has("--no-bos"), false);
  }
  check(!output_ids ? tok != nullptr : true, "this model has no tokenizer; use --output-ids to print token ids");

  const int64_t batch = args.get_int("-b", 512, 1, 1 << 20);
  std::unique_ptr<KvCache> cache;
  std::unique_ptr<TensorParallelTransformer> tp_model;
  std::unique_ptr<TpKvCache> tp_cache;
  std::unique_ptr<Generator> gen;
  if (tp > 0) {
    tp_model = std::make_unique<TensorParallelTransformer>(engine.config(), engine.model().weights,
                                                           std::vector<Backend*>{&engine.backend()});
    tp_cache = tp_model->new_cache(engine.n_ctx(), options.kv_type);
    auto step = [&](std::span<const int32_t> tokens, int64_t pos0) { return tp_model->forward(tokens, pos0, *tp_cache); };
    gen = std::make_unique<Generator>(step, engine.config().n_vocab, tp_cache->n_ctx(), sampling, batch);
  } else {
    cache = engine.new_cache();
    gen = std::make_unique<Generator>(engine.transformer(), *cache, sampling, batch);
  }
  std::unique_ptr<StreamDecoder> stream;
  if (!output_ids) stream = std::make_unique<StreamDecoder>(*tok);
  auto on_token = [&](int32_t id) {
    if (stream && !tok->is_end_of_generation(id)) {
      std::string piece = stream->push(id);
      std::fwrite(piece.data(), 1, piece.size(), stdout);
      std::fflush(stdout);
    }
    return true;
  };
  auto is_end = [&](int32_t id) { return tok && tok->is_end_of_generation(id); };
  std::vector<int32_t> out = gen->generate(prompt, n_predict, on_token, is_end);
  if (output_ids) {
    std::printf("[");
    for (size_t i = 0; i < out.size(); ++i) std::printf("%s%d", i ? "," : "", out[i]);
    std::printf("]\n");
  } else {
    std::string rest = stream->flush();
    std::fwrite(rest.data(), 1, rest.size(), stdout);
    std::printf("\n");
  }
  const auto& s = gen->stats();
  std::fprintf(stderr,
               "\nload: %.2f s | prompt: %lld tokens, %.1f tok/s | generation: %lld tokens, %.1f tok/s | "
               "seed %llu | %s, threads %s%s\n",
               engine.load_seconds(), (long long)s.prompt_tokens, s.prompt_tokens_per_second(),
               (long long)s.generated_tokens, s.generation_tokens_per_second(),
               (unsigned long long)sampling.seed, engine.backend().name().c_str(),
               options.threads > 0 ? std::to_string(options.threads).c_str() : "auto",
               tp > 0 ? (", tensor parallel " + std::to_string(tp)).c_str() : "");
  return 0;
}

RegisterCommand reg({"run", "generate text from a prompt (-m MODEL -p PROMPT)", &run});

}  // namespace
}  // namespace llmr::cli
