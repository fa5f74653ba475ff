#pragma once
// Ollama-compatible routes: POST /api/generate, /api/chat, /api/show; GET /api/tags, /api/ps, /api/version.
#include "server/server_context.h"

namespace llmr::server {

void ollama_generate(ServerContext& ctx, const HttpRequest& req, HttpResponder& res, bool chat);
void ollama_tags(ServerContext& ctx, HttpResponder& res, bool running);
void ollama_show(ServerContext& ctx, const HttpRequest& req, HttpResponder& res);
void ollama_version(HttpResponder& res);
// {"error": "message"} with the error's status.
void ollama_error(HttpResponder& res, const ApiError& e);

}  // namespace llmr::server
