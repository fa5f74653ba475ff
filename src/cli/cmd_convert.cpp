// llmr convert / llmr quantize: make GGUF files with llmr alone.
#include <cstdio>

#include "cli/args.h"
#include "cli/command.h"
#include "model/gguf_export.h"

namespace llmr::cli {
namespace {

int convert(const std::vector<std::string>& argv) {
  Args args(argv, {"--type"}, {});
  check(args.positional().size() == 2, "usage: llmr convert HF_DIR OUT.gguf [--type f32|f16|bf16|q8_0|q4_0|q4_k]");
  const DType type = parse_dtype(args.get_or("--type", "f16"));
  convert_hf_to_gguf(args.positional()[0], args.positional()[1], type);
  std::fprintf(stderr, "wrote %s (%s)\n", args.positional()[1].c_str(), name(type));
  return 0;
}

int quantize(const std::vector<std::string>& argv) {
  Args args(argv, {}, {});
  check(args.positional().size() == 3, "usage: llmr quantize IN.gguf OUT.gguf TYPE");
  const DType type = parse_dtype(args.positional()[2]);
  quantize_gguf(args.positional()[0], args.positional()[1], type);
  std::fprintf(stderr, "wrote %s (%s)\n", args.positional()[1].c_str(), name(type));
  return 0;
}

RegisterCommand reg_convert({"convert", "Hugging Face directory -> GGUF (HF_DIR OUT.gguf --type T)", &convert});
RegisterCommand reg_quantize({"quantize", "re-encode a GGUF's weights (IN.gguf OUT.gguf TYPE)", &quantize});

}  // namespace
}  // namespace llmr::cli
