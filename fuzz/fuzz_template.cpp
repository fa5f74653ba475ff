// libFuzzer target: parse and render arbitrary template source with small inputs and tight limits.
// Only llmr::Error may escape the library; anything else (crash, hang, other exception) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "chat/chat_template.h"
#include "core/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 64 * 1024) return 0;
  std::string source(reinterpret_cast<const char*>(data), size);
  static const nlohmann::ordered_json messages = nlohmann::ordered_json::parse(R"([
    {"role": "system", "content": "sys"},
    {"role": "user", "content": "hi {{ x }}"},
    {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": {"a": [1, 2.5, "x"]}}}]},
    {"role": "tool", "content": "ok"}])");
  llmr::ChatTemplateInputs in;
  in.messages = messages;
  in.add_generation_prompt = size % 2 == 0;
  in.bos_token = "<s>";
  in.eos_token = "</s>";
  in.extra = {{"tools", nlohmann::ordered_json::array({{{"name", "f"}}})}, {"flag", true}, {"n", 3}};
  llmr::ChatTemplateLimits limits;
  limits.max_steps = 200000;
  limits.max_bytes = 4 << 20;
  limits.max_depth = 100;
  try {
    llmr::ChatTemplate t(source);
    (void)t.render(in, limits);
  } catch (const llmr::Error&) {
  }
  return 0;
}
