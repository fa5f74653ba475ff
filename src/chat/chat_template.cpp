// ChatTemplate: parse once with the Jinja lexer/parser, render with a fresh interpreter per call.
#include "chat/chat_template.h"

#include "chat/jinja_interpreter.h"
#include "chat/jinja_lexer.h"
#include "chat/jinja_parser.h"
#include "chat/js_text.h"
#include "core/error.h"

namespace llmr {

ChatTemplate::ChatTemplate(std::string source) : source_(std::move(source)) {
  jinja::check_utf8(source_, "chat template");
  program_ = jinja::parse(jinja::tokenize(source_));
}

ChatTemplate::~ChatTemplate() = default;
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;

std::string ChatTemplate::render(const ChatTemplateInputs& in) const { return render(in, ChatTemplateLimits{}); }

std::string ChatTemplate::render(const ChatTemplateInputs& in, const ChatTemplateLimits& limits) const {
  // One object, as the reference's render({messages, ..., ...extra}): extra keys override.
  nlohmann::ordered_json vars = nlohmann::ordered_json::object();
  vars["messages"] = in.messages;
  vars["add_generation_prompt"] = in.add_generation_prompt;
  vars["bos_token"] = in.bos_token;
  vars["eos_token"] = in.eos_token;
  if (!in.extra.is_null()) {
    check(in.extra.is_object(), "chat template extra variables must be a JSON object");
    for (auto it = in.extra.begin(); it != in.extra.end(); ++it) vars[it.key()] = it.value();
  }
  return render_variables(vars, limits);
}

std::string ChatTemplate::render_variables(const nlohmann::ordered_json& variables, const ChatTemplateLimits& limits) const {
  check(variables.is_object(), "chat template variables must be a JSON object");
  auto env = jinja::make_global_env();
  try {
    for (auto it = variables.begin(); it != variables.end(); ++it) jinja::declare(*env, it.key(), jinja::from_json(it.value()));
  } catch (const jinja::Unlocated& e) {
    throw Error(std::string("chat template input: ") + e.what());
  }
  jinja::Limits l;
  l.max_steps = limits.max_steps;
  l.max_bytes = limits.max_bytes;
  l.max_depth = limits.max_depth;
  jinja::Interpreter interpreter(l);
  return interpreter.render(program_, env);
}

}  // namespace llmr
