#pragma once
// Where a subcommand finds its model: -m, else $LLMR_MODEL, else the default model shipped in models/.
#include <filesystem>

#include "cli/args.h"

namespace llmr::cli {

std::filesystem::path model_path(const Args& args);

}  // namespace llmr::cli
