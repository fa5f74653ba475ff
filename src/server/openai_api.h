#pragma once
// OpenAI-compatible routes: POST /v1/chat/completions, POST /v1/completions, GET /v1/models.
#include "server/server_context.h"

namespace llmr::server {

void openai_completions(ServerContext& ctx, const HttpRequest& req, HttpResponder& res, bool chat);
void openai_models(ServerContext& ctx, HttpResponder& res);
// {"error": {"message", "type", "param", "code"}} with the error's status.
void openai_error(HttpResponder& res, const ApiError& e);

}  // namespace llmr::server
