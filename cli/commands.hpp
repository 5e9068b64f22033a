#pragma once
// Subcommands of `lowrank` register themselves at static-initialization time, one file each
// (solve.cpp, check.cpp, ...): adding a command is adding a file.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace lowrank::cli {

using CommandAdder = std::function<void(CLI::App&)>;
struct CommandEntry {
  int order;  // position in `lowrank --help`
  CommandAdder add;
};
std::vector<CommandEntry>& command_registry();

// A verdict, not an error: a subcommand that has printed its result (FAIL) throws this, and
// main() returns `code` without an error line. (2 stays reserved for refused input.)
struct VerdictExit {
  int code;
};

struct RegisterCommand {
  RegisterCommand(int order, CommandAdder add) { command_registry().push_back({order, std::move(add)}); }
};

}  // namespace lowrank::cli
