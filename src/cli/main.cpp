// llmr: the command-line entry point. Subcommands register themselves (cli/command.h).
#include <cstdio>
#include <exception>
#include <string>
#include <vector>

#include "cli/command.h"
#include "core/error.h"
#include "core/version.h"

namespace llmr::cli {
std::vector<Command>& commands() {
  static std::vector<Command> all;
  return all;
}
}  // namespace llmr::cli

static void usage() {
  std::fprintf(stderr, "usage: llmr <command> [options]\n\ncommands:\n");
  for (const auto& c : llmr::cli::commands()) std::fprintf(stderr, "  %-12s %s\n", c.name, c.summary);
  std::fprintf(stderr, "\n  --version    print the version and the backends compiled in\n");
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "--help" || args[0] == "-h") {
    usage();
    return args.empty() ? 1 : 0;
  }
  if (args[0] == "--version") {
    std::printf("llmr %s (backends: cpu%s)\n", llmr::version(),
#ifdef LLMR_HAVE_CUDA
                ", cuda"
#else
                ""
#endif
    );
    return 0;
  }
  for (const auto& c : llmr::cli::commands()) {
    if (args[0] != c.name) continue;
    try {
      return c.run(std::vector<std::string>(args.begin() + 1, args.end()));
    } catch (const llmr::Error& e) {
      std::fprintf(stderr, "llmr %s: error: %s\n", c.name, e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "llmr %s: internal error: %s\n", c.name, e.what());
      return 2;
    }
  }
  std::fprintf(stderr, "llmr: unknown command '%s'\n", args[0].c_str());
  usage();
  return 1;
}
