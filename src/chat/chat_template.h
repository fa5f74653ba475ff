#pragma once
// Chat templates: renders a model's Jinja chat template byte-identical to @huggingface/jinja
// (which renders as transformers does), with limits that stop hostile templates.
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace llmr {

namespace jinja {
struct Node;
struct Limits;
}  // namespace jinja

struct ChatTemplateInputs {
  // ordered_json keeps object keys in input order, which `tojson` (tools, arguments) reproduces;
  // a plain nlohmann::json converts implicitly but arrives with its keys sorted.
  nlohmann::ordered_json messages = nlohmann::ordered_json::array();  // [{role, content, ...}]
  bool add_generation_prompt = false;
  std::string bos_token, eos_token;
  nlohmann::ordered_json extra = nlohmann::ordered_json::object();  // tools, date_string, ... as variables
};

struct ChatTemplateLimits {
  size_t max_steps = 20'000'000;        // evaluation steps per render
  size_t max_bytes = size_t(1) << 30;   // bytes of strings/lists built per render
  int max_depth = 300;                  // nesting of evaluation, including macro recursion
};

// Parses once (errors name the construct and line), renders many times; render is thread-safe.
class ChatTemplate {
 public:
  explicit ChatTemplate(std::string source);
  ~ChatTemplate();
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;

  std::string render(const ChatTemplateInputs& in) const;
  std::string render(const ChatTemplateInputs& in, const ChatTemplateLimits& limits) const;
  // Renders with arbitrary top-level variables (no messages/bos/eos conventions).
  std::string render_variables(const nlohmann::ordered_json& variables, const ChatTemplateLimits& limits) const;

  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::unique_ptr<jinja::Node>> program_;
};

// A named built-in template (chatml, llama2, llama3, gemma, mistral, phi3, zephyr) for models that
// ship none; throws Error listing the names when `name` is unknown.
std::string builtin_chat_template(const std::string& name);
std::vector<std::string> builtin_chat_template_names();

}  // namespace llmr
