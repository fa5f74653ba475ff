// llmr serve: the OpenAI- and Ollama-compatible HTTP server over continuous batching.
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "chat/model_chat_template.h"
#include "cli/args.h"
#include "cli/command.h"
#include "cli/shared_flags.h"
#include "server/api_router.h"
#include "server/http_server.h"

namespace llmr::cli {
namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

int serve(const std::vector<std::string>& argv) {
  Args args(argv,
            flags({kEngineFlags, {"--host", "--port", "--api-key", "--parallel", "--queue", "--kv-blocks", "--block-size",
                                  "--prefill-chunk", "--step-tokens", "--max-body", "--timeout", "--chat-template"}}),
            {"--cors"});
  const EngineOptions options = engine_options(args);

  Engine engine(options);
  check(engine.tokenizer() != nullptr, "serve: the model has no tokenizer");
  SchedulerOptions sched;
  sched.n_ctx = engine.n_ctx();
  sched.max_batch = int(args.get_int("--parallel", 32, 1, 4096));
  sched.max_queue = int(args.get_int("--queue", 256, 0, 1 << 20));
  sched.block_size = args.get_int("--block-size", 16, 1, 4096);
  sched.n_blocks = args.get_int("--kv-blocks", 0, 0, 1 << 24);
  // Prompt tokens per sequence per step, and tokens per step over all sequences: a GPU takes whole
  // prompts in a step at little extra time per step; a CPU keeps steps short so streams keep flowing.
  const bool gpu = options.device == "cuda";
  sched.prefill_chunk = args.get_int("--prefill-chunk", gpu ? 512 : 64, 1, 1 << 20);
  sched.step_tokens = std::max<int64_t>(args.get_int("--step-tokens", gpu ? 4096 : 256, 1, 1 << 20), sched.max_batch);
  sched.kv_type = options.kv_type;
  Scheduler scheduler(engine.transformer(), sched, engine.tokenizer());

  ModelChatTemplate tmpl = load_model_chat_template(options.model_path);
  std::string source = tmpl.source;
  if (auto name = args.get("--chat-template")) source = builtin_chat_template(*name);
  if (source.empty()) source = builtin_chat_template("chatml");  // the model ships none
  std::string name = std::filesystem::path(options.model_path).filename().string();
  if (name.size() > 5 && name.ends_with(".gguf")) name.resize(name.size() - 5);
  server::ServerContext ctx{engine, scheduler, name, ChatTemplate(source), tmpl.bos_token, tmpl.eos_token,
                            source, {}, server::unix_now()};
  server::ApiRouter router(ctx, {args.get_or("--api-key", ""), args.has("--cors")});

  server::HttpServerOptions http;
  http.host = args.get_or("--host", "127.0.0.1");
  http.port = int(args.get_int("--port", 8080, 0, 65535));
  http.max_body_bytes = size_t(args.get_int("--max-body", 4 << 20, 1024, int64_t(1) << 32));
  http.read_timeout_s = http.write_timeout_s = int(args.get_int("--timeout", 30, 1, 3600));
  server::HttpServer srv(http, [&](const server::HttpRequest& req, server::HttpResponder& res) { router.handle(req, res); });
  const int port = srv.start();
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::fprintf(stderr, "llmr serve: model %s (context %lld, %lld KV blocks of %lld) on http://%s:%d/\n", name.c_str(),
               (long long)sched.n_ctx, (long long)scheduler.options().n_blocks, (long long)sched.block_size,
               http.host.c_str(), port);
  while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  srv.stop();
  scheduler.stop();
  return 0;
}

RegisterCommand reg({"serve", "OpenAI- and Ollama-compatible HTTP server (-m MODEL --port 8080)", &serve});

}  // namespace
}  // namespace llmr::cli
