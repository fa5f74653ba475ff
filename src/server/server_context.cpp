#include "server/server_context.h"

#include <chrono>
#include <cmath>
#include <ctime>

namespace llmr::server {

bool ServerContext::is_our_model(const std::string& name) const {
  return name == model_name || name == model_name + ":latest";
}

std::vector<int32_t> ServerContext::chat_prompt(const Json& messages, const Json& extra) const {
  if (!messages.is_array() || messages.empty()) throw ApiError(400, "'messages' must be a non-empty array", "messages");
  ChatTemplateInputs in;
  for (size_t i = 0; i < messages.size(); ++i) {
    const Json& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object()) throw ApiError(400, where + " must be an object", "messages");
    if (!m.contains("role") || !m["role"].is_string()) throw ApiError(400, where + ".role must be a string", "messages");
    Json msg = m;
    const Json& content = m.contains("content") ? m["content"] : Json();
    if (content.is_array()) {  // OpenAI content parts: the text parts joined
      std::string text;
      for (const Json& part : content) {
        if (!part.is_object() || !part.contains("type") || !part["type"].is_string())
          throw ApiError(400, where + ".content parts must be objects with a type", "messages");
        if (part["type"] == "text") {
          if (!part.contains("text") || !part["text"].is_string())
            throw ApiError(400, where + ".content text part needs a string 'text'", "messages");
          text += part["text"].get<std::string>();
        } else {
          throw ApiError(400, where + ".content: only text parts are supported", "messages");
        }
      }
      msg["content"] = text;
    } else if (content.is_null()) {
      msg["content"] = "";
    } else if (!content.is_string()) {
      throw ApiError(400, where + ".content must be a string or an array of parts", "messages");
    }
    in.messages.push_back(std::move(msg));
  }
  in.add_generation_prompt = true;
  in.bos_token = bos_token;
  in.eos_token = eos_token;
  in.extra = extra;
  std::string text;
  try {
    text = chat_template.render(in);
  } catch (const Error& e) {
    throw ApiError(400, std::string("chat template: ") + e.what(), "messages");
  }
  const bool has_bos = !bos_token.empty() && text.rfind(bos_token, 0) == 0;
  return tokenizer().encode(text, !has_bos, true);
}

std::vector<int32_t> ServerContext::text_prompt(const std::string& text) const {
  return tokenizer().encode(text, true, false);
}

Json parse_body(const std::string& body) {
  Json j;
  try {
    j = Json::parse(body);
  } catch (const std::exception& e) {
    throw ApiError(400, std::string("the request body is not valid JSON: ") + e.what());
  }
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

namespace {
const Json* field(const Json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}
[[noreturn]] void wrong(const char* key, const char* type) {
  throw ApiError(400, std::string("'") + key + "' must be " + type, key);
}
}  // namespace

std::optional<std::string> opt_string(const Json& j, const char* key) {
  const Json* f = field(j, key);
  if (!f) return std::nullopt;
  if (!f->is_string()) wrong(key, "a string");
  return f->get<std::string>();
}

std::optional<double> opt_number(const Json& j, const char* key) {
  const Json* f = field(j, key);
  if (!f) return std::nullopt;
  if (!f->is_number()) wrong(key, "a number");
  const double v = f->get<double>();
  if (!std::isfinite(v)) wrong(key, "a finite number");
  return v;
}

std::optional<int64_t> opt_int(const Json& j, const char* key) {
  const Json* f = field(j, key);
  if (!f) return std::nullopt;
  if (f->is_number_integer()) return f->get<int64_t>();
  if (f->is_number_float()) {
    const double v = f->get<double>();
    if (v == std::floor(v) && std::fabs(v) < 9e15) return int64_t(v);
  }
  wrong(key, "an integer");
}

std::optional<bool> opt_bool(const Json& j, const char* key) {
  const Json* f = field(j, key);
  if (!f) return std::nullopt;
  if (!f->is_boolean()) wrong(key, "a boolean");
  return f->get<bool>();
}

std::vector<std::string> opt_strings(const Json& j, const char* key) {
  const Json* f = field(j, key);
  if (!f) return {};
  if (f->is_string()) return {f->get<std::string>()};
  if (!f->is_array()) wrong(key, "a string or an array of strings");
  std::vector<std::string> out;
  for (const Json& s : *f) {
    if (!s.is_string()) wrong(key, "a string or an array of strings");
    out.push_back(s.get<std::string>());
  }
  if (out.size() > 16) throw ApiError(400, std::string("'") + key + "' has more than 16 entries", key);
  return out;
}

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

int64_t unix_now() { return int64_t(std::time(nullptr)); }

std::string iso_time_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count() % 1000000000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char b[64];
  std::snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%09lldZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, (long long)ns);
  return b;
}

}  // namespace llmr::server
