// llmr template: renders a model's chat template for a conversation and prints the prompt exactly.
#include <cstdio>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "chat/model_chat_template.h"
#include "cli/args.h"
#include "cli/command.h"
#include "cli/model_path.h"
#include "core/error.h"

namespace llmr::cli {
namespace {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  check(bool(in), "cannot open " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int run_template(const std::vector<std::string>& argv) {
  Args args(argv, {"-m", "-f", "--template", "--builtin", "--bos", "--eos"}, {"--add-generation-prompt", "--help"});
  if (args.has("--help") || !args.has("-f")) {
    std::fprintf(stderr,
                 "usage: llmr template [-m MODEL] -f MESSAGES.json [--add-generation-prompt]\n"
                 "                     [--template FILE | --builtin NAME] [--bos TEXT] [--eos TEXT]\n"
                 "  MODEL: a .gguf file (tokenizer.chat_template) or a Hugging Face directory (tokenizer_config.json)\n"
                 "  MESSAGES.json: [{\"role\", \"content\", ...}] or {\"messages\": [...], other variables (tools, ...)}\n"
                 "  --template FILE / --builtin NAME: use this template instead of the model's\n");
    return args.has("--help") ? 0 : 1;
  }
  ChatTemplateInputs in;
  std::string file = *args.get("-f");
  nlohmann::ordered_json doc;
  try {
    doc = nlohmann::ordered_json::parse(read_file(file));
  } catch (const nlohmann::json::exception& e) {
    throw Error(file + ": invalid JSON: " + e.what());
  }
  if (doc.is_array()) {
    in.messages = doc;
  } else {
    check(doc.is_object() && doc.contains("messages") && doc["messages"].is_array(),
          file + ": expected an array of messages or an object with a \"messages\" array");
    in.messages = doc["messages"];
    for (auto it = doc.begin(); it != doc.end(); ++it)
      if (it.key() != "messages") in.extra[it.key()] = it.value();
  }
  in.add_generation_prompt = args.has("--add-generation-prompt");

  std::string source;
  bool need_model = !args.has("--template") && !args.has("--builtin");
  if (need_model || args.has("-m")) {
    auto model = model_path(args);
    ModelChatTemplate m = load_model_chat_template(model);
    check(!need_model || !m.source.empty(),
          model.string() + ": the model ships no chat template; pass --builtin NAME (chatml, llama2, llama3, ...) or --template FILE");
    source = m.source;
    in.bos_token = m.bos_token;
    in.eos_token = m.eos_token;
  }
  if (auto t = args.get("--template")) source = read_file(*t);
  if (auto b = args.get("--builtin")) source = builtin_chat_template(*b);
  if (auto b = args.get("--bos")) in.bos_token = *b;
  if (auto e = args.get("--eos")) in.eos_token = *e;

  std::string prompt = ChatTemplate(source).render(in);
  std::fwrite(prompt.data(), 1, prompt.size(), stdout);
  return 0;
}

RegisterCommand reg({"template", "render a model's chat template for a conversation", &run_template});

}  // namespace
}  // namespace llmr::cli
