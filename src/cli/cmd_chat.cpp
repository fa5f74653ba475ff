// llmr chat: an interactive conversation through the model's chat template. Reads stdin line by
// line (so it can be scripted); /reset, /exit; Ctrl-C stops a reply, at the prompt it exits.
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>

#include "chat/model_chat_template.h"
#include "cli/args.h"
#include "cli/command.h"
#include "cli/shared_flags.h"
#include "runtime/chat_session.h"
#include "runtime/engine.h"

namespace llmr::cli {
namespace {

volatile std::sig_atomic_t g_interrupted = 0;

void on_sigint(int) { g_interrupted = 1; }

// Without SA_RESTART, so a read waiting at the prompt returns EINTR and Ctrl-C is seen at once.
void install_sigint_handler() {
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
}

// Lines from a file descriptor with read(2), which, unlike std::getline, reports an interrupt.
class LineReader {
 public:
  enum class Result { Line, End, Interrupted };
  explicit LineReader(int fd) : fd_(fd) {}

  Result next(std::string& line) {
    for (;;) {
      if (auto nl = buffer_.find('\n'); nl != std::string::npos) {
        line = buffer_.substr(0, nl);
        buffer_.erase(0, nl + 1);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        return Result::Line;
      }
      if (g_interrupted) return Result::Interrupted;
      char chunk[4096];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR) continue;  // the flag check above decides
      check(n >= 0, std::string("chat: cannot read standard input: ") + std::strerror(errno));
      if (n == 0) {
        if (buffer_.empty()) return Result::End;
        line = std::move(buffer_);  // a last line without a newline
        buffer_.clear();
        return Result::Line;
      }
      buffer_.append(chunk, size_t(n));
      check(buffer_.size() <= (64u << 20), "chat: an input line is longer than 64 MiB");
    }
  }

 private:
  int fd_;
  std::string buffer_;
};

int chat(const std::vector<std::string>& argv) {
  Args args(argv, flags({kEngineFlags, kSamplingFlags, {"--system", "--template", "-n", "-b"}}), {"--quiet"});
  const EngineOptions options = engine_options(args);
  const SamplingParams sampling = sampling_params(args);
  const int64_t max_tokens = args.get_int("-n", 512, 1, 1 << 24);
  const bool quiet = args.has("--quiet");

  Engine engine(options);
  check(engine.tokenizer() != nullptr, "chat: this model has no tokenizer (a no_vocab file); use llmr run --prompt-ids");
  ModelChatTemplate mt = load_model_chat_template(options.model_path);
  std::string source = mt.source;
  if (auto name = args.get("--template")) {
    source = builtin_chat_template(*name);
  } else if (source.empty()) {
    source = builtin_chat_template("chatml");
    std::fprintf(stderr, "note: the model has no chat template; using the built-in chatml (--template NAME picks another)\n");
  }
  auto cache = engine.new_cache();
  ChatSession session(engine.transformer(), *cache, *engine.tokenizer(), ChatTemplate(source), mt.bos_token,
                      mt.eos_token, sampling, args.get_or("--system", ""), args.get_int("-b", 512, 1, 1 << 20));

  install_sigint_handler();
  const bool interactive = ::isatty(0);
  if (interactive)
    std::fprintf(stderr, "chat with %s: /reset clears the conversation, /exit or Ctrl-D quits, Ctrl-C stops a reply\n",
                 options.model_path.filename().c_str());
  LineReader reader(0);
  std::string line;
  for (;;) {
    g_interrupted = 0;
    if (interactive) {
      std::printf("> ");
      std::fflush(stdout);
    }
    const auto got = reader.next(line);
    if (got != LineReader::Result::Line) {
      if (interactive) std::printf("\n");
      break;
    }
    if (line.empty()) continue;
    if (line == "/exit" || line == "/quit") break;
    if (line == "/reset") {
      session.reset();
      std::fprintf(stderr, "(conversation cleared)\n");
      continue;
    }
    try {
      session.send(line, max_tokens, [](const std::string& piece) {
        std::fwrite(piece.data(), 1, piece.size(), stdout);
        std::fflush(stdout);
        return !g_interrupted;
      });
    } catch (const Error& e) {
      std::printf("\n");
      std::fprintf(stderr, "error: %s\n", e.what());
      continue;
    }
    std::printf("\n");
    std::fflush(stdout);
    const ChatTurnStats& s = session.last_turn();
    if (s.stopped) std::fprintf(stderr, "(interrupted)\n");
    if (!quiet)
      std::fprintf(stderr, "[%lld prompt tokens, %lld reused from the cache, %lld prefilled | %lld generated, %.1f tok/s%s]\n",
                   (long long)s.prompt_tokens, (long long)s.reused_tokens, (long long)(s.prompt_tokens - s.reused_tokens),
                   (long long)s.generated_tokens,
                   s.generation_seconds > 0 ? double(s.generated_tokens) / s.generation_seconds : 0.0,
                   s.ended ? "" : ", no end token");
  }
  return 0;
}

RegisterCommand reg({"chat", "talk with a model through its chat template (-m MODEL [--system TEXT])", &chat});

}  // namespace
}  // namespace llmr::cli
