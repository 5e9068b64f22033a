// Check 2 (MATH.md 1.3): with X of full row rank, COALA, svd-llm, svd-llm-v2 and pinv give the
// same minimizer in exact arithmetic; checked in high precision against the error model of each.
// README section "2. Equivalence".
#include <cmath>

#include "common.hpp"

namespace lowrank::proofs_checks {

CheckResult check_equivalence(const ProveOptions& opt) {
  CheckContext c(opt, "equivalence",
                 "X of full row rank: COALA, svd-llm, svd-llm-v2, pinv give the same W' (high precision)");
  const double u = unit_roundoff_bits(reference_bits());
  const double thr = 30;
  c.out << "  ratio = ||W'_m - W'_coala||_F / (u d (kappa_G + kappa_C + kappa(X)) ||W||_F) < " << thr
        << "; kappa_C = ||W|| ||X|| / (s_r - s_r+1), kappa_G = ||W||^2 ||X||^2 / (s_r^2 - s_r+1^2) of W X\n";
  std::vector<double> kappas = opt.quick ? std::vector<double>{1e4, 1e10} : std::vector<double>{1, 1e2, 1e4, 1e6, 1e8, 1e10, 1e12};
  // --quick: 24 x 16, N = 32 (MPFR SVD cost ~ n^3); full: 40 x 30, N = 60.
  const Index m = opt.quick ? 24 : 40, n = opt.quick ? 16 : 30, N = opt.quick ? 32 : 60, r = opt.quick ? 5 : 8;
  std::vector<Problem> cases;
  for (std::size_t i = 0; i < kappas.size(); ++i) {
    Rng g(200 + i);
    cases.push_back({"geometric kappa=" + sci(kappas[i], 0) + " " + shape_str(m, n) + " N=" + std::to_string(N), gaussian(m, n, g),
                     latms(N, n, geometric(n, kappas[i]), g), r});
  }
  {
    Rng g(230);  // N = n: square X, the least data that still has full row rank
    cases.push_back({"N=n=" + std::to_string(n) + ", kappa=1e6", gaussian(m, n, g), latms(n, n, geometric(n, 1e6), g), r - 2});
  }
  Table t({"case", "kappa(X)", "kappa_C", "kappa_G", "method", "||W'_m - W'_coala||_F/||W'||_F", "ratio", "ok"});
  for (const Problem& p : cases) {
    const RefRun co = ref_solve(p, Method::coala);
    const Sensitivity s = sensitivity(p, co.sol.report);
    c.expect(co.sol.report.ok() && co.sol.report.x_rank == p.n(), p.name + ": COALA failed or X not of full row rank");
    const double denom = u * double(p.dim()) * (s.kappa_g() + s.kappa_c() + s.kappa_x) * s.norm_wf;
    for (Method m : {Method::svd_llm, Method::svd_llm_v2, Method::pinv}) {
      const RefRun r = ref_solve(p, m);
      const bool ran = r.sol.report.ok();
      const double diff = ran ? (r.Wp - co.Wp).norm().toDouble() : INFINITY;
      const double ratio = diff / denom;
      const bool ok = ran && ratio < thr && r.sol.report.notes.empty();
      c.expect(ok, p.name + ": " + method_name(m) + (ran ? " differs from COALA beyond its error bound" : " failed: " + r.sol.report.failure));
      t.add({p.name, sci(s.kappa_x), sci(s.kappa_c()), sci(s.kappa_g()), method_name(m), sci(diff / co.Wp.norm().toDouble()),
             sci(ratio), ok ? "yes" : "NO"});
    }
  }
  c.table(t, "equivalence.csv");
  return c.finish();
}

}  // namespace lowrank::proofs_checks
