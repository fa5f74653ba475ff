#include "server/openai_api.h"

#include <atomic>

#include "server/generation.h"

namespace llmr::server {
namespace {

std::atomic<uint64_t> next_request{1};

std::string request_id(const char* prefix) {
  char b[48];
  std::snprintf(b, sizeof b, "%s-%016llx", prefix, (unsigned long long)(next_request++ * 0x9E3779B97F4A7C15ull));
  return b;
}

const char* error_type(int status) {
  switch (status) {
    case 401: return "authentication_error";
    case 404: return "invalid_request_error";
    case 503: return "server_error";
    case 500: return "server_error";
    default: return "invalid_request_error";
  }
}

Json usage_json(int64_t prompt, int64_t completion) {
  return Json{{"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", prompt + completion}};
}

// Reads the sampling fields shared by both routes into `p`.
void read_sampling(const Json& body, SequenceParams& p) {
  p.sampling.top_k = 0;
  p.sampling.min_p = 0;
  p.sampling.repeat_penalty = 1;
  const double temperature = opt_number(body, "temperature").value_or(1.0);
  if (temperature < 0 || temperature > 2) throw ApiError(400, "'temperature' must be in [0, 2]", "temperature");
  p.sampling.temperature = float(temperature);
  const double top_p = opt_number(body, "top_p").value_or(1.0);
  if (!(top_p > 0 && top_p <= 1)) throw ApiError(400, "'top_p' must be in (0, 1]", "top_p");
  p.sampling.top_p = float(top_p);
  // vLLM's and llama.cpp's name: generate max_tokens whatever the model samples (benchmarks).
  p.stop_at_end_token = !opt_bool(body, "ignore_eos").value_or(false);
  p.sampling.seed = uint64_t(opt_int(body, "seed").value_or(int64_t(next_request.load() * 7919 + unix_now())));
  for (const char* key : {"presence_penalty", "frequency_penalty"}) {
    const double v = opt_number(body, key).value_or(0);
    if (v < -2 || v > 2) throw ApiError(400, std::string("'") + key + "' must be in [-2, 2]", key);
    (key[0] == 'p' ? p.presence_penalty : p.frequency_penalty) = float(v);
  }
  if (auto it = body.find("logit_bias"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw ApiError(400, "'logit_bias' must be an object of token id -> bias", "logit_bias");
    for (auto& [key, value] : it->items()) {
      char* end = nullptr;
      const long id = std::strtol(key.c_str(), &end, 10);
      if (key.empty() || *end || id < 0 || id >= 1 << 30)
        throw ApiError(400, "'logit_bias' key '" + key + "' is not a token id", "logit_bias");
      if (!value.is_number() || value.get<double>() < -100 || value.get<double>() > 100)
        throw ApiError(400, "'logit_bias' values must be numbers in [-100, 100]", "logit_bias");
      p.logit_bias.emplace_back(int32_t(id), value.get<float>());
    }
  }
}

std::vector<int32_t> completion_prompt(ServerContext& ctx, const Json& body) {
  auto it = body.find("prompt");
  if (it == body.end() || it->is_null()) throw ApiError(400, "'prompt' is required", "prompt");
  const Json& p = *it;
  if (p.is_string()) return ctx.text_prompt(p.get<std::string>());
  if (p.is_array() && p.size() == 1 && p[0].is_string()) return ctx.text_prompt(p[0].get<std::string>());
  if (p.is_array() && !p.empty() && p[0].is_number_integer()) {
    std::vector<int32_t> ids;
    for (const Json& t : p) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= ctx.engine.config().n_vocab)
        throw ApiError(400, "'prompt' token ids must be integers in the vocabulary", "prompt");
      ids.push_back(int32_t(t.get<int64_t>()));
    }
    return ids;
  }
  throw ApiError(400, "'prompt' must be a string, a one-string array or an array of token ids", "prompt");
}

}  // namespace

void openai_error(HttpResponder& res, const ApiError& e) {
  Json err{{"error",
            {{"message", e.what()},
             {"type", e.type.empty() ? error_type(e.status) : e.type},
             {"param", e.param.empty() ? Json() : Json(e.param)},
             {"code", e.status == 404 && e.param == "model" ? Json("model_not_found") : Json()}}}};
  std::vector<std::pair<std::string, std::string>> headers;
  if (e.status == 503) headers.push_back({"Retry-After", "1"});
  res.send(e.status, "application/json", dump(err), headers);
}

void openai_models(ServerContext& ctx, HttpResponder& res) {
  Json models{{"object", "list"},
              {"data", Json::array({Json{{"id", ctx.model_name},
                                         {"object", "model"},
                                         {"created", ctx.created_unix},
                                         {"owned_by", "llmr"}}})}};
  res.send(200, "application/json", dump(models));
}

void openai_completions(ServerContext& ctx, const HttpRequest& req, HttpResponder& res, bool chat) {
  const Json body = parse_body(req.body);
  const auto model = opt_string(body, "model");
  if (!model) throw ApiError(400, "'model' is required", "model");
  if (!ctx.is_our_model(*model))
    throw ApiError(404, "The model `" + *model + "` does not exist (this server has `" + ctx.model_name + "`)", "model");
  const bool stream = opt_bool(body, "stream").value_or(false);
  bool include_usage = false;
  if (auto it = body.find("stream_options"); it != body.end() && !it->is_null()) {
    if (!it->is_object()) throw ApiError(400, "'stream_options' must be an object", "stream_options");
    include_usage = opt_bool(*it, "include_usage").value_or(false);
  }
  const int64_t n = opt_int(body, "n").value_or(1);
  if (n < 1 || n > 8) throw ApiError(400, "'n' must be in [1, 8]", "n");
  const std::vector<std::string> stops = opt_strings(body, "stop");

  SequenceParams params;
  read_sampling(body, params);
  params.prompt = chat ? ctx.chat_prompt(body.contains("messages") ? body["messages"] : Json()) : completion_prompt(ctx, body);
  const int64_t n_ctx = ctx.scheduler.options().n_ctx;
  const int64_t prompt_tokens = int64_t(params.prompt.size());
  auto max_tokens = opt_int(body, "max_completion_tokens");
  const char* max_key = "max_completion_tokens";
  if (!max_tokens) max_tokens = opt_int(body, "max_tokens"), max_key = "max_tokens";
  if (max_tokens && *max_tokens < 1) throw ApiError(400, std::string("'") + max_key + "' must be at least 1", max_key);
  if (prompt_tokens >= n_ctx)
    throw ApiError(400, "This model's maximum context length is " + std::to_string(n_ctx) + " tokens; the prompt has " +
                            std::to_string(prompt_tokens), chat ? "messages" : "prompt", "invalid_request_error");
  if (max_tokens && *max_tokens > n_ctx - prompt_tokens)
    throw ApiError(400, "This model's maximum context length is " + std::to_string(n_ctx) + " tokens; " +
                            std::to_string(prompt_tokens) + " in the prompt plus " + max_key + " " +
                            std::to_string(*max_tokens) + " do not fit", max_key);
  params.max_tokens = max_tokens.value_or(n_ctx - prompt_tokens);

  std::vector<SequenceParams> all;
  for (int64_t i = 0; i < n; ++i) {
    all.push_back(params);
    all.back().sampling.seed += uint64_t(i);
  }
  std::vector<std::shared_ptr<Sequence>> seqs;
  try {
    seqs = ctx.scheduler.submit(std::move(all));
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  if (seqs.empty()) throw ApiError(503, "the server is busy: the request queue is full; retry later");

  const std::string id = request_id(chat ? "chatcmpl" : "cmpl");
  const int64_t created = unix_now();
  const Json base{{"id", id},
                  {"object", chat ? "chat.completion.chunk" : "text_completion"},
                  {"created", created},
                  {"model", ctx.model_name},
                  {"system_fingerprint", "llmr"}};
  auto sse = [&](const Json& j) { return res.write_chunk("data: " + dump(j) + "\n\n"); };
  auto chunk = [&](size_t index, const Json& delta_or_text, const Json& finish) {
    Json c = base;
    Json choice = chat ? Json{{"index", index}, {"delta", delta_or_text}, {"logprobs", nullptr}, {"finish_reason", finish}}
                       : Json{{"text", delta_or_text}, {"index", index}, {"logprobs", nullptr}, {"finish_reason", finish}};
    c["choices"] = Json::array({choice});
    if (include_usage) c["usage"] = nullptr;
    return sse(c);
  };

  if (stream) {
    if (!res.begin_stream(200, "text/event-stream")) {
      for (auto& s : seqs) s->cancel();
      return;
    }
    if (chat)
      for (size_t i = 0; i < seqs.size(); ++i)
        if (!chunk(i, Json{{"role", "assistant"}, {"content", ""}}, nullptr)) {
          for (auto& s : seqs) s->cancel();
          return;
        }
  }
  // Every token gets a chunk, "" when it shows no text yet (as llama.cpp and vLLM stream), so
  // clients see time to first token and token pace even while control tokens or partial UTF-8 decode to nothing.
  auto on_delta = [&](size_t i, const std::string& text) {
    if (!stream) return true;
    return chunk(i, chat ? Json{{"content", text}} : Json(text), nullptr);
  };
  auto on_finish = [&](size_t i, const ChoiceResult& c) {
    if (!stream) return true;
    return chunk(i, chat ? Json::object() : Json(""), c.finish_reason);
  };
  GenerationOutcome out = run_generation(seqs, ctx.tokenizer(), stops, res, on_delta, on_finish,
                                          chat ? -1 : params.prompt.back());
  if (out.client_gone) return;
  int64_t completion_tokens = 0;
  for (const ChoiceResult& c : out.choices) completion_tokens += c.completion_tokens;
  if (stream) {
    if (!out.error.empty()) {
      sse(Json{{"error", {{"message", out.error}, {"type", "server_error"}, {"param", nullptr}, {"code", nullptr}}}});
    } else if (include_usage) {
      Json u = base;
      u["choices"] = Json::array();
      u["usage"] = usage_json(prompt_tokens, completion_tokens);
      sse(u);
    }
    res.write_chunk("data: [DONE]\n\n");
    res.end_stream();
    return;
  }
  if (!out.error.empty()) throw ApiError(500, out.error);
  Json choices = Json::array();
  for (size_t i = 0; i < out.choices.size(); ++i) {
    const ChoiceResult& c = out.choices[i];
    if (chat)
      choices.push_back(Json{{"index", i},
                             {"message", {{"role", "assistant"}, {"content", c.text}, {"refusal", nullptr}}},
                             {"logprobs", nullptr},
                             {"finish_reason", c.finish_reason}});
    else
      choices.push_back(Json{{"text", c.text}, {"index", i}, {"logprobs", nullptr}, {"finish_reason", c.finish_reason}});
  }
  Json whole = base;
  whole["object"] = chat ? "chat.completion" : "text_completion";
  whole["choices"] = choices;
  whole["usage"] = usage_json(prompt_tokens, completion_tokens);
  res.send(200, "application/json", dump(whole));
}

}  // namespace llmr::server
