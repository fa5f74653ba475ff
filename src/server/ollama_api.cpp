#include "server/ollama_api.h"

#include <filesystem>

#include "server/generation.h"

namespace llmr::server {
namespace {

int64_t ns(double seconds) { return int64_t(seconds * 1e9); }

Json model_details(ServerContext& ctx) {
  const char* arch = architecture_name(ctx.engine.config().arch);
  return Json{{"parent_model", ""},
              {"format", "gguf"},
              {"family", arch},
              {"families", Json::array({arch})},
              {"parameter_size", "unknown"},
              {"quantization_level", "unknown"}};
}

Json model_entry(ServerContext& ctx) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(ctx.engine.model().file.path, ec);
  return Json{{"name", ctx.model_name + ":latest"},
              {"model", ctx.model_name + ":latest"},
              {"modified_at", iso_time_now()},
              {"size", ec ? 0 : int64_t(size)},
              {"digest", ""},
              {"details", model_details(ctx)}};
}

// Ollama's "options": sampling and length knobs.
void read_options(const Json& body, SequenceParams& p, int64_t& num_predict, std::vector<std::string>& stops) {
  p.sampling.temperature = 0.8f;
  p.sampling.top_k = 40;
  p.sampling.top_p = 0.9f;
  p.sampling.min_p = 0;
  p.sampling.repeat_penalty = 1.1f;
  p.sampling.repeat_last_n = 64;
  p.sampling.seed = uint64_t(unix_now()) * 2654435761u + uint64_t(reinterpret_cast<uintptr_t>(&p));
  auto it = body.find("options");
  if (it == body.end() || it->is_null()) return;
  if (!it->is_object()) throw ApiError(400, "'options' must be an object");
  const Json& o = *it;
  if (auto v = opt_number(o, "temperature")) {
    if (*v < 0 || *v > 100) throw ApiError(400, "options.temperature must be in [0, 100]");
    p.sampling.temperature = float(*v);
  }
  if (auto v = opt_number(o, "top_p")) {
    if (!(*v > 0 && *v <= 1)) throw ApiError(400, "options.top_p must be in (0, 1]");
    p.sampling.top_p = float(*v);
  }
  if (auto v = opt_number(o, "min_p")) {
    if (!(*v >= 0 && *v < 1)) throw ApiError(400, "options.min_p must be in [0, 1)");
    p.sampling.min_p = float(*v);
  }
  if (auto v = opt_int(o, "top_k")) {
    if (*v < 0) throw ApiError(400, "options.top_k must be >= 0");
    p.sampling.top_k = int(std::min<int64_t>(*v, 1 << 24));
  }
  if (auto v = opt_number(o, "repeat_penalty")) {
    if (!(*v > 0 && *v <= 100)) throw ApiError(400, "options.repeat_penalty must be in (0, 100]");
    p.sampling.repeat_penalty = float(*v);
  }
  if (auto v = opt_int(o, "repeat_last_n")) p.sampling.repeat_last_n = int(std::clamp<int64_t>(*v, 0, 1 << 20));
  if (auto v = opt_int(o, "seed")) p.sampling.seed = uint64_t(*v);
  if (auto v = opt_bool(o, "ignore_eos")) p.stop_at_end_token = !*v;
  if (auto v = opt_number(o, "presence_penalty")) p.presence_penalty = float(std::clamp(*v, -2.0, 2.0));
  if (auto v = opt_number(o, "frequency_penalty")) p.frequency_penalty = float(std::clamp(*v, -2.0, 2.0));
  if (auto v = opt_int(o, "num_predict")) num_predict = *v;
  auto more = opt_strings(o, "stop");
  stops.insert(stops.end(), more.begin(), more.end());
}

}  // namespace

void ollama_error(HttpResponder& res, const ApiError& e) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (e.status == 503) headers.push_back({"Retry-After", "1"});
  res.send(e.status, "application/json", dump(Json{{"error", e.what()}}), headers);
}

void ollama_version(HttpResponder& res) {
  res.send(200, "application/json", dump(Json{{"version", "0.6.0"}}));
}

void ollama_tags(ServerContext& ctx, HttpResponder& res, bool running) {
  Json m = model_entry(ctx);
  if (running) {
    m.erase("modified_at");
    m["expires_at"] = "2262-04-11T23:47:16.854775807Z";
    m["size_vram"] = 0;
  }
  res.send(200, "application/json", dump(Json{{"models", Json::array({m})}}));
}

void ollama_show(ServerContext& ctx, const HttpRequest& req, HttpResponder& res) {
  const Json body = parse_body(req.body);
  auto name = opt_string(body, "model");
  if (!name) name = opt_string(body, "name");
  if (!name) throw ApiError(400, "'model' is required");
  if (!ctx.is_our_model(*name)) throw ApiError(404, "model '" + *name + "' not found");
  const auto& c = ctx.engine.config();
  const std::string arch = architecture_name(c.arch);
  Json info{{"general.architecture", arch},
            {arch + ".context_length", c.n_ctx_train},
            {arch + ".embedding_length", c.n_embd},
            {arch + ".block_count", c.n_layer},
            {arch + ".attention.head_count", c.n_head},
            {arch + ".attention.head_count_kv", c.n_head_kv},
            {arch + ".feed_forward_length", c.n_ff},
            {"tokenizer.ggml.model", ctx.tokenizer().kind()}};
  res.send(200, "application/json",
           dump(Json{{"modelfile", ""},
                     {"parameters", ""},
                     {"template", ctx.template_source},
                     {"details", model_details(ctx)},
                     {"model_info", info},
                     {"capabilities", Json::array({"completion"})},
                     {"modified_at", iso_time_now()}}));
}

void ollama_generate(ServerContext& ctx, const HttpRequest& req, HttpResponder& res, bool chat) {
  const Json body = parse_body(req.body);
  const auto model = opt_string(body, "model");
  if (!model) throw ApiError(400, "'model' is required");
  if (!ctx.is_our_model(*model)) throw ApiError(404, "model '" + *model + "' not found, try pulling it first");
  const bool stream = opt_bool(body, "stream").value_or(true);
  SequenceParams params;
  int64_t num_predict = -1;
  std::vector<std::string> stops;
  read_options(body, params, num_predict, stops);
  std::string prompt_text;
  const bool raw = !chat && opt_bool(body, "raw").value_or(false);
  if (chat) {
    params.prompt = ctx.chat_prompt(body.contains("messages") ? body["messages"] : Json());
  } else {
    prompt_text = opt_string(body, "prompt").value_or("");
    const auto system = opt_string(body, "system");
    if (prompt_text.empty() && !system) {  // Ollama: an empty prompt just loads the model
      res.send(200, "application/json",
               dump(Json{{"model", *model}, {"created_at", iso_time_now()}, {"response", ""}, {"done", true},
                         {"done_reason", "load"}}));
      return;
    }
    if (raw) {
      params.prompt = ctx.text_prompt(prompt_text);
    } else {
      Json messages = Json::array();
      if (system) messages.push_back(Json{{"role", "system"}, {"content", *system}});
      messages.push_back(Json{{"role", "user"}, {"content", prompt_text}});
      params.prompt = ctx.chat_prompt(messages);
    }
  }
  const int64_t n_ctx = ctx.scheduler.options().n_ctx;
  const auto prompt_tokens = int64_t(params.prompt.size());
  if (prompt_tokens >= n_ctx)
    throw ApiError(400, "the prompt has " + std::to_string(prompt_tokens) + " tokens; the context holds " +
                            std::to_string(n_ctx));
  // Ollama: num_predict -1 (or absent) = until the context is full; other values capped by the context.
  if (num_predict == 0 || num_predict < -2) throw ApiError(400, "options.num_predict must be positive or -1");
  params.max_tokens = num_predict < 0 ? n_ctx - prompt_tokens : std::min(num_predict, n_ctx - prompt_tokens);

  std::vector<std::shared_ptr<Sequence>> seqs;
  try {
    seqs = ctx.scheduler.submit({params});
  } catch (const ApiError&) {
    throw;
  } catch (const Error& e) {
    throw ApiError(400, e.what());
  }
  if (seqs.empty()) throw ApiError(503, "server busy, please try again: the request queue is full");

  auto line = [&](Json j) { return res.write_chunk(dump(j) + "\n"); };
  auto piece = [&](const std::string& text, bool done) {
    Json j{{"model", *model}, {"created_at", iso_time_now()}};
    if (chat) j["message"] = Json{{"role", "assistant"}, {"content", text}};
    else j["response"] = text;
    j["done"] = done;
    return j;
  };
  if (stream && !res.begin_stream(200, "application/x-ndjson")) {
    seqs[0]->cancel();
    return;
  }
  auto on_delta = [&](size_t, const std::string& text) { return !stream || text.empty() || line(piece(text, false)); };
  auto on_finish = [&](size_t, const ChoiceResult&) { return true; };
  GenerationOutcome out = run_generation(seqs, ctx.tokenizer(), stops, res, on_delta, on_finish,
                                          raw ? params.prompt.back() : -1);
  if (out.client_gone) return;
  if (!out.error.empty()) {
    if (!stream) throw ApiError(500, out.error);
    line(Json{{"error", out.error}});
    res.end_stream();
    return;
  }
  const ChoiceResult& c = out.choices[0];
  Json last = piece(stream ? "" : c.text, true);
  last["done_reason"] = c.finish_reason;
  if (!chat) {
    std::vector<int32_t> context = params.prompt;
    context.insert(context.end(), c.tokens.begin(), c.tokens.end());
    last["context"] = context;
  }
  last["total_duration"] = ns(out.total_seconds);
  last["load_duration"] = 0;
  last["prompt_eval_count"] = prompt_tokens;
  last["prompt_eval_duration"] = ns(out.first_token_seconds);
  last["eval_count"] = c.completion_tokens;
  last["eval_duration"] = ns(out.total_seconds - out.first_token_seconds);
  if (!stream) {
    res.send(200, "application/json", dump(last));
    return;
  }
  line(last);
  res.end_stream();
}

}  // namespace llmr::server
