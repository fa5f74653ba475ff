#pragma once
// Routes requests to the OpenAI and Ollama handlers after the API key and CORS checks; counts
// every answer for /metrics; maps errors to each API's own error shape.
#include "server/server_context.h"

namespace llmr::server {

struct RouterOptions {
  std::string api_key;  // empty = no key required
  bool cors = false;
};

class ApiRouter {
 public:
  ApiRouter(ServerContext& ctx, RouterOptions options) : ctx_(ctx), options_(std::move(options)) {}
  void handle(const HttpRequest& req, HttpResponder& res);

 private:
  void dispatch(const HttpRequest& req, HttpResponder& res);
  bool authorized(const HttpRequest& req) const;

  ServerContext& ctx_;
  RouterOptions options_;
};

}  // namespace llmr::server
