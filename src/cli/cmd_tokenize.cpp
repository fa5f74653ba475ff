// llmr tokenize: text -> token ids (and pieces), with the model's own tokenizer.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "cli/args.h"
#include "cli/command.h"
#include "cli/model_path.h"
#include "core/error.h"
#include "format/model_file.h"
#include "tokenizer/tokenizer.h"

namespace llmr::cli {
namespace {

std::unique_ptr<Tokenizer> load_tokenizer(const std::filesystem::path& path) {
  if (std::filesystem::is_directory(path)) {
    check(std::filesystem::exists(path / "tokenizer.json"), path.string() + ": no tokenizer.json in this directory");
    return Tokenizer::from_hf_dir(path);
  }
  ModelFile file = open_gguf(path);
  auto tok = Tokenizer::from_gguf(file.metadata);
  check(tok != nullptr, path.string() + ": the file holds no tokenizer (tokenizer.ggml.model)");
  return tok;
}

// A vocabulary string shown on one line: control characters and backslashes escaped.
std::string printable(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else out += char(c);
  }
  return out;
}

int tokenize(const std::vector<std::string>& argv) {
  Args args(argv, {"-m", "-f"}, {"--ids", "--no-bos", "--no-special", "--help"});
  if (args.has("--help")) {
    std::fprintf(stderr,
                 "usage: llmr tokenize -m MODEL (TEXT | -f FILE) [--ids] [--no-bos] [--no-special]\n"
                 "  MODEL: a .gguf file or a directory with tokenizer.json (+ tokenizer_config.json)\n"
                 "  --ids         print only a JSON array of ids\n"
                 "  --no-bos      do not add BOS/EOS\n"
                 "  --no-special  do not match special tokens written in the text\n");
    return 0;
  }
  std::string text;
  if (auto f = args.get("-f")) {
    std::ifstream in(*f, std::ios::binary);
    check(bool(in), "cannot open " + *f);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
    check(args.positional().empty(), "give the text either as an argument or with -f, not both");
  } else {
    check(args.positional().size() == 1, "give the text to tokenize as one argument (or -f FILE)");
    text = args.positional()[0];
  }
  auto tok = load_tokenizer(model_path(args));
  std::vector<int32_t> ids = tok->encode(text, !args.has("--no-bos"), !args.has("--no-special"));
  if (args.has("--ids")) {
    std::string out = "[";
    for (size_t i = 0; i < ids.size(); ++i) out += (i ? ", " : "") + std::to_string(ids[i]);
    std::printf("%s]\n", out.c_str());
    return 0;
  }
  for (int32_t id : ids) std::printf("%8d  %s\n", id, printable(tok->token_text(id)).c_str());
  std::printf("%zu tokens (%s)\n", ids.size(), tok->kind().c_str());
  return 0;
}

RegisterCommand reg({"tokenize", "text -> token ids and pieces (-m MODEL, --ids, -f FILE)", &tokenize});

}  // namespace
}  // namespace llmr::cli
