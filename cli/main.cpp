// lowrank: verified context-aware low-rank approximation (see README.md).
#include <algorithm>
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "lowrank/core/error.hpp"

namespace lowrank::cli {
std::vector<CommandEntry>& command_registry() {
  static std::vector<CommandEntry> registry;
  return registry;
}
}  // namespace lowrank::cli

int main(int argc, char** argv) {
  CLI::App app{
      "lowrank: context-aware low-rank approximation min ||(W - W')X||_F, rank(W') <= r,\n"
      "with an arbitrary-precision reference, fast CPU/CUDA backends, checks and proofs.\n"
      "Files: W.npy is m x n (out x in, as nn.Linear.weight); X.npy is N x n, one row per token."};
  app.require_subcommand(1);
  lowrank::install_interrupt_handlers();
  auto& commands = lowrank::cli::command_registry();
  std::sort(commands.begin(), commands.end(), [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& c : commands) c.add(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help prints and exits 0; a usage error is one line on stderr, like every other refusal.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::cerr << "lowrank: error: " << e.what() << " (see --help)\n";
    return e.get_exit_code();
  } catch (const lowrank::cli::VerdictExit& v) {
    return v.code;
  } catch (const lowrank::Error& e) {
    // Refused input (2), breakdown (3), I/O (4), interrupted (128 + signal): README, "Exit codes".
    std::cerr << "lowrank: error: " << e.what() << "\n";
    return e.exit_code();
  } catch (const std::filesystem::filesystem_error& e) {
    std::cerr << "lowrank: error: " << e.path1().string() << ": " << e.code().message() << "\n";
    return lowrank::exit_code::io;
  } catch (const std::bad_alloc&) {
    std::cerr << "lowrank: error: out of memory\n";
    return lowrank::exit_code::io;
  } catch (const std::exception& e) {
    std::cerr << "lowrank: internal error: " << e.what() << "\n";
    return lowrank::exit_code::io;
  }
  return 0;
}
