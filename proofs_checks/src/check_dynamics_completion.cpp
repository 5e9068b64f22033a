// Compressible dynamics, completion (MATH.md section 2): from a fraction of the entries of a
// rank-r target, the compressed network with gamma > 0 recovers the unobserved entries to the
// stated relative error, as the full-width network does. cpu float64. README "Compressible
// dynamics", completion.
#include <chrono>

#include "common.hpp"
#include "dynamics_common.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace lowrank::proofs_checks {

namespace {

struct Outcome {
  double recovery = 0, seconds = 0;
  long steps = 0;
};

Outcome train_once(const dynamics::Config& cfg, const dynamics::ProblemData& data) {
  CpuBackend<double> be;
  const auto res = dynamics::train(be, cfg, data);
  return {res.curve.back().recovery_error, res.timings.compress_seconds + res.timings.train_seconds,
          res.timings.steps_done};
}

}  // namespace

CheckResult check_dynamics_completion(const ProveOptions& opt) {
  CheckContext c(opt, "dynamics-completion",
                 "completion: the compressed network (gamma > 0) recovers the unobserved entries to tol, as the full network does");
  dynamics::Config cfg;
  cfg.depth = 3, cfg.seed = 1, cfg.gamma = 0.01, cfg.invariant = false;
  // Full run: d = 300, r = 3, 20% observed, tol 1e-10. The full network's error has a floor, its
  // rho^L part: about rho^L sqrt(d - 2r) / ||(1 - Omega) .* Phi||_F, measured ~5x that (README),
  // so eps must put that floor below tol: eps = 3e-4 gives ~5e-11 here; the escape from the
  // start takes ~1 / (eta c s_r eps) steps, hence eta near its stability limit ~0.26 d^(4/3)
  // (README). --quick: the same at d = 60, 30% observed, eps = 2e-3, tol 1e-7 (floor ~2e-8).
  double tol;
  if (opt.quick) {
    cfg.width = 60, cfg.rank = 2, cfg.observed = 0.3, cfg.eps = 2e-3, cfg.eta = 40, cfg.steps = 60000, tol = 1e-7;
  } else {
    cfg.width = 300, cfg.rank = 3, cfg.observed = 0.2, cfg.eps = 3e-4, cfg.eta = 450, cfg.steps = 100000, tol = 1e-10;
  }
  cfg.stop_at = tol, cfg.record_every = cfg.steps;
  const dynamics::ProblemData data = dynamics::make_problem(cfg);
  c.out << "  d = " << cfg.width << ", r = " << cfg.rank << ", L = " << cfg.depth << ", observed " << cfg.observed
        << " (" << data.observed_count << " entries), eps = " << sci(cfg.eps, 1) << ", eta = " << cfg.eta
        << ", gamma = " << cfg.gamma << "; stop at recovery error <= " << sci(tol, 0) << " or " << cfg.steps << " steps\n";
  Table t({"network", "steps", "recovery error (unobserved)", "tol", "seconds", "ok"});
  for (bool compressed : {true, false}) {
    dynamics::Config run = cfg;
    run.compressed = compressed;
    const Outcome o = train_once(run, data);
    const bool ok = o.recovery <= tol;
    c.expect(ok, std::string(compressed ? "compressed" : "full") + " network: recovery error " + sci(o.recovery) +
                     " > " + sci(tol, 0) + " after " + std::to_string(o.steps) + " steps");
    t.add({compressed ? "compressed (gamma = 0.01)" : "full width", std::to_string(o.steps), sci(o.recovery), sci(tol, 0),
           fix(o.seconds, 1), ok ? "yes" : "NO"});
  }
  c.table(t, "dynamics_completion.csv");
  return c.finish();
}

}  // namespace lowrank::proofs_checks
