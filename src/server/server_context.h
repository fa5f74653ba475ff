#pragma once
// What every route handler needs: the engine, the scheduler, the chat template, the model's name,
// request metrics, and helpers to read request JSON with errors that name the field.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "chat/chat_template.h"
#include "runtime/engine.h"
#include "runtime/scheduler.h"
#include "server/api_error.h"
#include "server/http_server.h"
#include "server/metrics.h"

namespace llmr::server {

using Json = nlohmann::ordered_json;

struct ServerContext {
  Engine& engine;
  Scheduler& scheduler;
  std::string model_name;    // what /v1/models and /api/tags list (the file's stem)
  ChatTemplate chat_template;
  std::string bos_token, eos_token;
  std::string template_source;  // for /api/show
  RequestMetrics metrics;
  int64_t created_unix = 0;

  const Tokenizer& tokenizer() const { return *engine.tokenizer(); }
  // True for the served model's name, with or without an Ollama tag (":latest").
  bool is_our_model(const std::string& name) const;
  // Renders chat messages through the template and tokenizes them; ApiError 400 on bad messages.
  std::vector<int32_t> chat_prompt(const Json& messages, const Json& extra = Json::object()) const;
  std::vector<int32_t> text_prompt(const std::string& text) const;
};

// Parses a request body as a JSON object (400 with the parser's message otherwise).
Json parse_body(const std::string& body);

// Optional typed fields: absent or null gives nullopt; a wrong type gives ApiError 400 naming it.
std::optional<std::string> opt_string(const Json& j, const char* key);
std::optional<double> opt_number(const Json& j, const char* key);
std::optional<int64_t> opt_int(const Json& j, const char* key);
std::optional<bool> opt_bool(const Json& j, const char* key);
// A string or an array of strings ("stop").
std::vector<std::string> opt_strings(const Json& j, const char* key);

// JSON text with invalid UTF-8 replaced, never a throw.
std::string dump(const Json& j);
// ISO 8601 UTC with nanoseconds, as Ollama writes created_at.
std::string iso_time_now();
int64_t unix_now();

}  // namespace llmr::server
