#pragma once
// Subcommands register themselves here; each lives in its own cmd_<name>.cpp.
#include <string>
#include <vector>

namespace llmr::cli {

struct Command {
  const char* name;
  const char* summary;  // one line for `llmr --help`
  int (*run)(const std::vector<std::string>& args);  // args after the subcommand name
};

std::vector<Command>& commands();

struct RegisterCommand {
  explicit RegisterCommand(Command c) { commands().push_back(c); }
};

}  // namespace llmr::cli
