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

struct RegisterCommand {
  RegisterCommand(int order, CommandAdder add) { command_registry().push_back({order, std::move(add)}); }
};

}  // namespace lowrank::cli
