#pragma once
// One row format and one summary line for every batch of measurements or checks: the benchmarks
// (bench/cpu, bench/cuda), the proof checks (`lowrank prove`) and the corpus (`lowrank corpus`).
// The row is MAGMA testing/'s: what ran, its shape, seconds, GFLOP/s and the fraction of the
// measured peak, the error ratios (each an error divided by its bound: <= 1 passes), and the
// verdict against the stated tolerance. The summary is LAPACK's ALASUM: "N passed, M failed" of
// K run, with the other outcomes named only when they occurred.
#include <cmath>
#include <string>
#include <utility>
#include <vector>

namespace lowrank {

struct ResultRow {
  ResultRow() = default;
  ResultRow(std::string g, std::string n, std::string s, double sec = NAN, double gf = NAN, double peak = NAN)
      : group(std::move(g)), name(std::move(n)), shape(std::move(s)), seconds(sec), gflops(gf), peak_fraction(peak) {}
  std::string group;   // "qr", "e2e", "case", "proof", ...
  std::string name;    // routine, method, case or check
  std::string shape;   // "m=1024 n=1024 N=8192 r=256" or the case's tags
  double seconds = NAN, gflops = NAN, peak_fraction = NAN;  // NaN: not a speed measurement
  std::vector<std::pair<std::string, double>> ratios;        // error / bound, printed in order
  std::string verdict;  // "ok" / "failed", or the corpus's PASS, FAIL, SUSPECT, REFUSED, ERROR
  std::string note;     // why, or the extra numbers of a benchmark
};

// The column heads and one row, fixed width (a NaN cell prints "-"; a NaN ratio is left out).
std::string result_header();
std::string format_row(const ResultRow& r);

struct Summary {
  int passed = 0, failed = 0, suspect = 0, refused = 0, errors = 0;
  int run() const { return passed + failed + suspect + refused + errors; }
  // Counts one verdict: ok/PASS, failed/FAIL, SUSPECT, REFUSED, ERROR (anything else is an error).
  void add(const std::string& verdict);
  // "<what>: 52 passed, 0 failed, 3 refused (of 55 run)"
  std::string line(const std::string& what) const;
};

}  // namespace lowrank
