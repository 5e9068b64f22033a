#pragma once
// The exceptions every part of lowrank throws, each with the exit code the command line returns
// for it (README, "Exit codes"). A message names the file or argument, where (row, block, byte
// offset) and what was expected; the CLI prints it as one line on stderr.
//
//   Error        2  refused input or options (nothing computed, nothing written)
//   Breakdown    3  a method broke down on valid input (its report says why; no factors)
//   IoError      4  I/O or system failure (path and the system's errno text)
//   Interrupted  130 / 143  SIGINT / SIGTERM (previous output untouched)
// Exit 1 (verdict FAIL) and 5 (SUSPECT) are results, not exceptions.
#include <csignal>
#include <stdexcept>
#include <string>

namespace lowrank {

namespace exit_code {
inline constexpr int ok = 0, verdict_fail = 1, refused = 2, breakdown = 3, io = 4, suspect = 5;
}

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what) : std::runtime_error(what) {}
  virtual int exit_code() const { return exit_code::refused; }
};

// The exit code an exception stands for (README, "Exit codes"): a lowrank::Error says its own;
// anything else (std::bad_alloc, a filesystem_error, ...) is a system failure, exit_code::io.
int exit_code_of(const std::exception& e);

// A numerical method failed on input it accepted (Cholesky of an indefinite Gram matrix, a Gram
// matrix that overflowed the working precision, ...). The driver turns it into a failed report.
class Breakdown : public Error {
 public:
  explicit Breakdown(const std::string& what) : Error(what) {}
  int exit_code() const override { return exit_code::breakdown; }
};

// A read or write that the system refused: `path: what: strerror(errno)`.
class IoError : public Error {
 public:
  IoError(const std::string& path, const std::string& what, int errnum);
  explicit IoError(const std::string& message) : Error(message) {}
  int exit_code() const override { return exit_code::io; }
};

// SIGINT / SIGTERM arrived; thrown at the next check point (between blocks, between files).
class Interrupted : public Error {
 public:
  explicit Interrupted(int signal);
  int signal() const { return signal_; }
  int exit_code() const override { return 128 + signal_; }

 private:
  int signal_;
};

// Installs SIGINT/SIGTERM handlers that only record the signal (a second one of the same kind
// kills the process as usual). Long loops call check_interrupted(), which throws Interrupted.
void install_interrupt_handlers();
int pending_signal();  // 0 when none
void check_interrupted();
// A plugin (plugin.hpp) has its own copy of this code; the host hands it its pending_signal() so
// that the plugin's loops see the host's signals. nullptr returns to this copy's own flag.
void set_signal_source(int (*source)());

}  // namespace lowrank
