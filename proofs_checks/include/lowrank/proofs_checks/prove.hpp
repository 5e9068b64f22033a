#pragma once
// lowrank prove: every theorem and bound of MATH.md 1.1-1.4 checked numerically, each as a named
// check that prints a table and a verdict (derivations in proofs_checks/README.md).
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace lowrank::proofs_checks {

struct ProveOptions {
  bool quick = false;             // reduced sweep (CTest), still exercising every check
  std::string out = "out/prove";  // CSV + PNG + gnuplot scripts go here
  int bits = 256;                 // reference precision of the high-precision checks
  std::vector<std::string> only;  // run only these checks (by short name); empty = all
};

struct CheckResult {
  std::string name;   // short name, e.g. "optimality"
  std::string title;  // one line: the statement checked
  bool passed = false;
  std::string text;   // the printed tables and the verdict line
  std::vector<std::string> files;  // written into ProveOptions::out
};

// Short names of the checks, in the order they run.
const std::vector<std::string>& check_names();

// Runs the checks; `on_done` is called after each one (for progressive printing).
std::vector<CheckResult> run_checks(const ProveOptions& opt,
                                    const std::function<void(const CheckResult&)>& on_done = {});

}  // namespace lowrank::proofs_checks
