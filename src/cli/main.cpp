// llmr: the command-line entry point; one file per subcommand.
#include <cstdio>
#include <cstring>
#include <exception>

#include "core/version.h"

int main(int argc, char** argv) {
  if (argc >= 2 && std::strcmp(argv[1], "--version") == 0) {
    std::printf("llmr %s\n", llmr::version());
    return 0;
  }
  std::fprintf(stderr, "usage: llmr <run|inspect|convert|quantize> ...\n");
  return 1;
}
