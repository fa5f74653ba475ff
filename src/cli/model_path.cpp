#include "cli/model_path.h"

#include <cstdlib>
#include <unistd.h>

namespace llmr::cli {
namespace {

const char* kDefaultModel = "models/default.gguf";

std::filesystem::path executable_dir() {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::filesystem::path() : exe.parent_path();
}

}  // namespace

std::filesystem::path model_path(const Args& args) {
  if (auto m = args.get("-m")) return *m;
  if (const char* env = std::getenv("LLMR_MODEL"); env && *env) return env;
  // The default model ships in the repository; look beside the working directory and the binary.
  for (const auto& base : {std::filesystem::current_path(), executable_dir() / "..", executable_dir() / "../.."}) {
    auto candidate = base / kDefaultModel;
    if (std::filesystem::exists(candidate)) return candidate;
  }
  throw Error(std::string("no model given: pass -m MODEL (a .gguf file or a Hugging Face directory), "
                          "set LLMR_MODEL, or run from the repository, which ships ") + kDefaultModel);
}

}  // namespace llmr::cli
