#include <algorithm>
#include <chrono>
#include <cstdio>

#include "common.hpp"
#include "dynamics_common.hpp"
#include "lowrank/core/error.hpp"

namespace lowrank::proofs_checks {

namespace {
struct Entry {
  const char* name;
  CheckResult (*run)(const ProveOptions&);
};
const std::vector<Entry>& entries() {
  static const std::vector<Entry> e = {
      {"optimality", check_optimality},   {"equivalence", check_equivalence},
      {"nearest", check_nearest},         {"convergence", check_convergence},
      {"streaming", check_streaming},     {"fp-model", check_fp_model},
      {"self-consistency", check_self_consistency},
      {"dynamics-invariance", check_dynamics_invariance},
      {"dynamics-equivalence", check_dynamics_equivalence},
      {"dynamics-completion", check_dynamics_completion}};
  return e;
}
}  // namespace

const std::vector<std::string>& check_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const auto& e : entries()) v.push_back(e.name);
    return v;
  }();
  return names;
}

std::vector<CheckResult> run_checks(const ProveOptions& opt, const std::function<void(const CheckResult&)>& on_done) {
  for (const auto& o : opt.only)
    if (std::find(check_names().begin(), check_names().end(), o) == check_names().end())
      throw Error("unknown check '" + o + "' (known: optimality, equivalence, nearest, convergence, streaming, "
                  "fp-model, self-consistency, dynamics-invariance, dynamics-equivalence, dynamics-completion)");
  std::vector<CheckResult> results;
  for (const auto& e : entries()) {
    if (!opt.only.empty() && std::find(opt.only.begin(), opt.only.end(), e.name) == opt.only.end()) continue;
    const ReferencePrecision precision(opt.bits);  // each check starts at --bits; put back after it
    const auto t0 = std::chrono::steady_clock::now();
    CheckResult r;
    try {
      r = e.run(opt);
    } catch (const std::exception& ex) {
      // A check that throws has failed; the others still run.
      r.name = e.name;
      r.title = "(aborted)";
      r.passed = false;
      r.text = std::string("== check ") + e.name + ": aborted: " + ex.what() + "\n-- " + e.name + ": FAIL\n";
    }
    char secs[64];
    std::snprintf(secs, sizeof secs, "   [%.1f s]\n", std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    if (!r.text.empty() && r.text.back() == '\n') r.text.pop_back();
    r.text += secs;
    results.push_back(r);
    if (on_done) on_done(r);
  }
  return results;
}

}  // namespace lowrank::proofs_checks
