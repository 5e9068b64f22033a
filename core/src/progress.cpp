#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdio>

#include "lowrank/core/error.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {
namespace {

double now() {
  using clock = std::chrono::steady_clock;
  return std::chrono::duration<double>(clock::now().time_since_epoch()).count();
}

std::string duration_text(double s) {
  char buf[64];
  if (s < 10) std::snprintf(buf, sizeof buf, "%.1f s", s);
  else if (s < 90) std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 5400) std::snprintf(buf, sizeof buf, "%.0f min %02.0f s", std::floor(s / 60), s - 60 * std::floor(s / 60));
  else std::snprintf(buf, sizeof buf, "%.1f h", s / 3600);
  return buf;
}

}  // namespace

ProgressSource::ProgressSource(RowBlockSource& inner, std::string label, bool asked)
    : inner_(inner), label_(std::move(label)), tty_(isatty(2) != 0), start_(now()), asked_(asked) {}

ProgressSource::~ProgressSource() {
  if (printed_ && tty_) std::fputc('\n', stderr);
}

void ProgressSource::end_pass() {
  if (printed_ || announced_) print(true);
  printed_ = announced_ = calibrated_ = false;
}

void ProgressSource::reset() {
  end_pass();
  inner_.reset();
  ++pass_;
  done_ = 0;
  pass_start_ = last_ = now();
}

bool ProgressSource::next(Index max_rows, MatrixXd& block) {
  if (pass_ == 0) reset();  // a caller that did not reset first
  const bool more = inner_.next(max_rows, block);
  return count(more, block.rows());
}

bool ProgressSource::next_float(Index max_rows, MatrixXf& block) {
  if (pass_ == 0) reset();
  const bool more = inner_.next_float(max_rows, block);
  return count(more, block.rows());
}

bool ProgressSource::count(bool more, Index rows) {
  if (!more) {
    end_pass();
    return false;
  }
  done_ += rows;
  const double t = now(), elapsed = t - pass_start_;
  const Index N = inner_.rows();
  if (!calibrated_ && done_ < N && elapsed >= 0.2) {
    calibrated_ = true;
    const double total = elapsed * double(N) / double(done_);
    if (total > 5.0) {
      announced_ = true;
      std::fprintf(stderr, "[%s] pass %d over %s: the first %lld tokens took %s, so the %lld tokens take about %s\n",
                   label_.c_str(), pass_, inner_.name().c_str(), static_cast<long long>(done_),
                   duration_text(elapsed).c_str(), static_cast<long long>(N), duration_text(total).c_str());
      std::fflush(stderr);
    }
  }
  if (elapsed >= 1.0 && t - last_ >= (tty_ ? 0.5 : 10.0)) {
    last_ = t;
    print(false);
  }
  return true;
}

void ProgressSource::print(bool final) {
  const double elapsed = now() - pass_start_;
  const Index N = inner_.rows();
  const double rate = elapsed > 0 ? double(done_) / elapsed : 0.0;
  std::string tail = final ? ", done in " + duration_text(elapsed)
                           : (rate > 0 ? ", about " + duration_text(double(N - done_) / rate) + " left" : "");
  std::fprintf(stderr, "%s[%s] pass %d: %lld / %lld tokens (%.1f%%), %.3g tokens/s%s%s", tty_ ? "\r" : "",
               label_.c_str(), pass_, static_cast<long long>(done_), static_cast<long long>(N),
               N ? 100.0 * double(done_) / double(N) : 100.0, rate, tail.c_str(), (final || !tty_) ? "\n" : "   ");
  std::fflush(stderr);
  printed_ = !final;
}

void ProgressSource::phase(const std::string& what) {
  check_interrupted();
  if (printed_) end_pass();
  if (!asked_ && now() - start_ < 1.0) return;
  std::fprintf(stderr, "[%s] %s (at %s)\n", label_.c_str(), what.c_str(), duration_text(now() - start_).c_str());
  std::fflush(stderr);
}

}  // namespace lowrank
