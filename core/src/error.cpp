#include "lowrank/core/error.hpp"

#include <atomic>
#include <cstring>

namespace lowrank {

int exit_code_of(const std::exception& e) {
  if (const auto* le = dynamic_cast<const Error*>(&e)) return le->exit_code();
  return exit_code::io;
}

IoError::IoError(const std::string& path, const std::string& what, int errnum)
    : Error(path + ": " + what + ": " + std::strerror(errnum)) {}

Interrupted::Interrupted(int signal)
    : Error(std::string("interrupted by ") + (signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal") +
            "; nothing was written (any previous output is untouched)"),
      signal_(signal) {}

namespace {
volatile std::sig_atomic_t g_signal = 0;
int (*g_source)() = nullptr;  // set in a plugin: the host's pending_signal

extern "C" void record_signal(int sig) {
  g_signal = sig;
  // A second signal of the same kind ends the process at once, as without the handler.
  std::signal(sig, SIG_DFL);
}
}  // namespace

void install_interrupt_handlers() {
  struct sigaction sa {};
  sa.sa_handler = record_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // reads and writes resume; the loops poll check_interrupted()
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

int pending_signal() { return g_source ? g_source() : int(g_signal); }

void set_signal_source(int (*source)()) { g_source = source; }

void check_interrupted() {
  if (const int s = pending_signal()) throw Interrupted(s);
}

}  // namespace lowrank
