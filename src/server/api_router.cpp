#include "server/api_router.h"

#include "server/ollama_api.h"
#include "server/openai_api.h"
#include "server/web_ui.h"

namespace llmr::server {
namespace {

enum class Api { OpenAi, Ollama, Plain };

Api api_of(const std::string& path) {
  if (path.rfind("/v1/", 0) == 0) return Api::OpenAi;
  if (path.rfind("/api/", 0) == 0) return Api::Ollama;
  return Api::Plain;
}

const char* known_routes[] = {"/",          "/health",   "/metrics",      "/v1/models",   "/v1/chat/completions",
                              "/v1/completions", "/api/generate", "/api/chat", "/api/tags", "/api/show",
                              "/api/ps",    "/api/version"};

std::string route_label(const std::string& path) {
  for (const char* r : known_routes)
    if (path == r) return r;
  return "other";
}

void send_error(HttpResponder& res, Api api, const ApiError& e) {
  if (res.sent()) return;
  if (api == Api::Ollama) ollama_error(res, e);
  else openai_error(res, e);
}

// The chat page itself is public (a browser cannot send a Bearer key when it navigates); it holds no
// data, and every API call it makes carries the key typed into it.
bool is_page_request(const HttpRequest& req) { return req.path == "/" && (req.method == "GET" || req.method == "HEAD"); }

}  // namespace

bool ApiRouter::authorized(const HttpRequest& req) const {
  if (options_.api_key.empty()) return true;
  const std::string want = "Bearer " + options_.api_key, got = req.header("authorization");
  unsigned diff = unsigned(want.size() ^ got.size());  // constant time over the key
  for (size_t i = 0; i < want.size(); ++i) diff |= unsigned(want[i] ^ (i < got.size() ? got[i] : 0));
  return diff == 0;
}

void ApiRouter::handle(const HttpRequest& req, HttpResponder& res) {
  const Api api = api_of(req.path);
  if (options_.cors) {
    res.add_header("Access-Control-Allow-Origin", "*");
    res.add_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
    res.add_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
  }
  try {
    if (req.method == "OPTIONS" && options_.cors) {
      res.send(204, "", "");
    } else if (req.path != "/health" && !is_page_request(req) && !authorized(req)) {
      throw ApiError(401, "missing or wrong API key (send Authorization: Bearer KEY)", "", "invalid_api_key");
    } else {
      dispatch(req, res);
    }
  } catch (const ApiError& e) {
    send_error(res, api, e);
  } catch (const std::exception& e) {
    send_error(res, api, ApiError(500, std::string("internal error: ") + e.what(), "", "server_error"));
  }
  ctx_.metrics.count(route_label(req.path), res.status());
}

void ApiRouter::dispatch(const HttpRequest& req, HttpResponder& res) {
  const std::string& p = req.path;
  const bool get = req.method == "GET" || req.method == "HEAD", post = req.method == "POST";
  auto want = [&](bool ok) {
    if (!ok) throw ApiError(405, "method " + req.method + " is not allowed on " + p);
  };
  if (p == "/health") {
    want(get);
    res.send(200, "application/json", "{\"status\":\"ok\"}");
  } else if (p == "/metrics") {
    want(get);
    res.send(200, "text/plain; version=0.0.4", ctx_.metrics.render(ctx_.scheduler.stats()));
  } else if (p == "/") {
    want(get);
    // Everything the page needs is inline; the policy keeps it that way (no CDN, no third party).
    res.send(200, "text/html; charset=utf-8", web_ui_html(),
             {{"Content-Security-Policy",
               "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; "
               "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
              {"X-Content-Type-Options", "nosniff"},
              {"Cache-Control", "no-cache"}});
  } else if (p == "/v1/models") {
    want(get);
    openai_models(ctx_, res);
  } else if (p == "/v1/chat/completions" || p == "/v1/completions") {
    want(post);
    openai_completions(ctx_, req, res, p == "/v1/chat/completions");
  } else if (p == "/api/generate" || p == "/api/chat") {
    want(post);
    ollama_generate(ctx_, req, res, p == "/api/chat");
  } else if (p == "/api/tags" || p == "/api/ps") {
    want(get);
    ollama_tags(ctx_, res, p == "/api/ps");
  } else if (p == "/api/show") {
    want(post);
    ollama_show(ctx_, req, res);
  } else if (p == "/api/version") {
    want(get);
    ollama_version(res);
  } else {
    throw ApiError(404, "no route " + req.method + " " + p);
  }
}

}  // namespace llmr::server
