// ignore_eos on every generation route: with the end-of-text token forced (logit_bias) or reached by
// greedy decoding, a request still generates exactly max_tokens; without it, it stops there. The
// router answers into one end of a socket pair and the test reads the other.
#include <gtest/gtest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <random>

#include "chat/model_chat_template.h"
#include "runtime/engine.h"
#include "runtime/scheduler.h"
#include "server/api_router.h"
#include "test_util.h"

namespace llmr::server {
namespace {

struct Server {
  Engine engine{[] {
    EngineOptions o;
    o.model_path = std::string(LLMR_SOURCE_DIR) + "/models/default.gguf";
    o.threads = 1;
    return o;
  }()};
  std::unique_ptr<Scheduler> scheduler;
  std::unique_ptr<ServerContext> ctx;
  std::unique_ptr<ApiRouter> router;

  Server() {
    SchedulerOptions s;
    s.n_ctx = engine.n_ctx();
    scheduler = std::make_unique<Scheduler>(engine.transformer(), s, engine.tokenizer());
    ModelChatTemplate t = load_model_chat_template(std::string(LLMR_SOURCE_DIR) + "/models/default.gguf");
    const std::string source = t.source.empty() ? builtin_chat_template("chatml") : t.source;
    ctx.reset(new ServerContext{engine, *scheduler, "default", ChatTemplate(source), t.bos_token, t.eos_token, source, {},
                                unix_now()});
    router = std::make_unique<ApiRouter>(*ctx, RouterOptions{});
  }
  ~Server() { scheduler->stop(); }

  // The raw HTTP response (head and body) to a POST of `body` to `path`.
  std::string post(const std::string& path, const Json& body) {
    int fds[2];
    EXPECT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    HttpRequest req;
    req.method = "POST";
    req.target = req.path = path;
    req.version = "HTTP/1.1";
    req.headers["content-type"] = "application/json";
    req.body = body.dump();
    {
      HttpResponder res(fds[0], false, {});
      router->handle(req, res);
    }
    ::shutdown(fds[0], SHUT_WR);
    std::string out;
    char buf[65536];
    for (ssize_t n; (n = ::read(fds[1], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
    ::close(fds[0]);
    ::close(fds[1]);
    return out;
  }
  Json post_json(const std::string& path, const Json& body) {
    const std::string raw = post(path, body);
    const size_t at = raw.find("\r\n\r\n");
    EXPECT_NE(raw.find(" 200 "), std::string::npos) << raw;
    return Json::parse(raw.substr(at + 4));
  }
};

Server& server() {
  static Server s;
  return s;
}

int32_t eos() { return server().engine.tokenizer()->eos_id(); }
int64_t seed() { return int64_t(testing::rng()() % 1000000); }

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

TEST(IgnoreEos, CompletionsGenerateMaxTokensPastAForcedEos) {
  ASSERT_GE(eos(), 0);
  const int64_t max_tokens = 5 + int64_t(testing::rng()() % 8);
  for (bool chat : {false, true}) {
    Json body{{"model", "default"}, {"max_tokens", max_tokens}, {"temperature", 0.8}, {"seed", seed()},
              {"logit_bias", {{std::to_string(eos()), 100}}}};
    if (chat) body["messages"] = Json::array({Json{{"role", "user"}, {"content", "Who was Naomi?"}}});
    else body["prompt"] = "And Naomi said";
    const std::string path = chat ? "/v1/chat/completions" : "/v1/completions";

    const Json stopped = server().post_json(path, body);
    EXPECT_EQ(stopped["choices"][0]["finish_reason"], "stop") << path;
    EXPECT_EQ(stopped["usage"]["completion_tokens"], 0) << path;

    body["ignore_eos"] = true;
    const Json full = server().post_json(path, body);
    EXPECT_EQ(full["choices"][0]["finish_reason"], "length") << path;
    EXPECT_EQ(full["usage"]["completion_tokens"], max_tokens) << path;

    body["ignore_eos"] = false;
    EXPECT_EQ(server().post_json(path, body)["usage"]["completion_tokens"], 0) << path;
  }
}

// The forced end-of-text tokens decode to nothing, yet each one still gets its own chunk.
TEST(IgnoreEos, StreamSendsAChunkPerTokenEvenWithoutText) {
  const int64_t max_tokens = 4 + int64_t(testing::rng()() % 8);
  const Json body{{"model", "default"}, {"prompt", "And Ruth said"}, {"max_tokens", max_tokens}, {"seed", seed()},
                  {"logit_bias", {{std::to_string(eos()), 100}}}, {"ignore_eos", true}, {"stream", true},
                  {"stream_options", {{"include_usage", true}}}};
  const std::string raw = server().post("/v1/completions", body);
  EXPECT_EQ(count(raw, "\"finish_reason\":null"), size_t(max_tokens)) << raw;
  EXPECT_EQ(count(raw, "\"finish_reason\":\"length\""), 1u) << raw;
  EXPECT_NE(raw.find("\"completion_tokens\":" + std::to_string(max_tokens)), std::string::npos) << raw;
}

TEST(IgnoreEos, BadTypeIsA400NamingTheField) {
  const std::string raw = server().post(
      "/v1/completions", Json{{"model", "default"}, {"prompt", "x"}, {"max_tokens", 2}, {"ignore_eos", "yes"}});
  EXPECT_NE(raw.find(" 400 "), std::string::npos) << raw;
  EXPECT_NE(raw.find("ignore_eos"), std::string::npos) << raw;
}

// Ollama has no logit_bias and the default model never ends a text by itself (greedy runs to
// num_predict), so this checks that options.ignore_eos is read (a bad type is a 400 naming it) and
// that a request with it runs to num_predict with every token counted.
TEST(IgnoreEos, OllamaOptionsAreReadAndRunToNumPredict) {
  const int64_t num_predict = 20 + int64_t(testing::rng()() % 40);
  Json body{{"model", "default"}, {"prompt", "And Naomi said unto her two daughters in law,"}, {"raw", true},
            {"stream", false}, {"options", {{"seed", seed()}, {"num_predict", num_predict}, {"ignore_eos", "yes"}}}};
  const std::string bad = server().post("/api/generate", body);
  EXPECT_NE(bad.find(" 400 "), std::string::npos) << bad;
  EXPECT_NE(bad.find("ignore_eos"), std::string::npos) << bad;

  body["options"]["ignore_eos"] = true;
  const Json full = server().post_json("/api/generate", body);
  EXPECT_EQ(full["done_reason"], "length") << full.dump();
  EXPECT_EQ(full["eval_count"], num_predict) << full.dump();
}

}  // namespace
}  // namespace llmr::server
