// Check 7: the reference at p bits agrees with itself at 2p bits to what p bits promise, on the
// hardest cases (kappa(X) = 1e16). README section "7. Reference self-consistency".
#include <cmath>
#include <optional>

#include "common.hpp"
#include "lowrank/data/corpus.hpp"

namespace lowrank::proofs_checks {

namespace {
std::vector<Problem> hard_cases(bool quick) {
  std::vector<Problem> c;
  // The corpus's hardest cases (data/): kappa(X) = 1e16, regularized or not, and the numerically
  // rank-deficient one (cond ~ 1e16 after rounding). --quick: cond_1e16 only.
  for (const data::CaseDef& d : data::corpus_cases()) {
    if (!d.valid() || d.large || d.kind != data::CaseKind::generated) continue;
    const bool hardest = d.x.cond >= 1e16 || d.name == "rankdef_numerical_k12_r8";
    if (!hardest || (quick && d.name != "cond_1e16")) continue;
    const data::CaseData g = data::generate_case(d);
    Problem p{"corpus " + d.name, g.W, g.X, d.rank};
    p.mu = d.mu;
    c.push_back(p);
  }
  if (!quick) {
    Rng g(701);
    c.push_back({"geometric kappa=1e16 (local)", gaussian(40, 30, g), latms(60, 30, geometric(30, 1e16), g), 8});
  }
  {
    // W = K diag(1/s) U_x^T: W X = K V_x^T, so W's large directions are X's small ones and the
    // problem's sensitivity kappa_C grows like kappa(X) (the construction of check fp-model).
    Rng g(702);
    const Index n = 24, N = 48, m = 32;
    const VectorXd s = geometric(n, 1e16);
    const MatrixXd Ux = haar(n, n, g), Vx = haar(N, n, g);
    const MatrixXd X = Vx * s.asDiagonal() * Ux.transpose();
    const MatrixXd K = haar(m, n, g) * geometric(n, 1e2).asDiagonal() * haar(n, n, g).transpose();
    c.push_back({"W amplifies X's small directions, kappa=1e16", K * s.cwiseInverse().asDiagonal() * Ux.transpose(), X, 6});
  }
  return c;
}
}  // namespace

CheckResult check_self_consistency(const ProveOptions& opt) {
  CheckContext c(opt, "self-consistency", "reference at p and 2p bits agree to u_p * sensitivity (kappa(X) = 1e16)");
  const double thr = 30;
  c.out << "  ratio_W = ||W'_p - W'_2p||_F / (u_p d kappa ||W||_F), kappa = kappa_C (COALA) or kappa_G + kappa_C + kappa(X) (Gram)\n"
        << "  (+ l_max / (l_rho - l_rho+1) for pinv where it cuts eigenvalues of G below its threshold);\n"
        << "  ratio_s = max_i |s_i^p - s_i^2p| / (u_p d ||W||_2 ||X||_2) (Weyl); threshold " << thr << "\n";
  Table t({"case", "kappa(X)", "mu", "method", "p", "2p", "||W'_p - W'_2p||/||W'||", "ratio_W", "ratio_s", "ok"});
  const int base = reference_bits();
  for (const Problem& p : hard_cases(opt.quick)) {
    std::optional<ReferencePrecision> at;  // the precision of what is computed next (a scope, put back after)
    at.emplace(std::max(512, base));
    const SolveReport rep = ref_solve(p, Method::coala, p.mu).sol.report;
    const Sensitivity s = sensitivity(p, rep);
    const double cut = pinv_cut_sensitivity(p, rep);
    for (Method m : {Method::coala, Method::svd_llm, Method::svd_llm_v2, Method::pinv}) {
      if (p.mu > 0 && m != Method::coala) continue;  // the Gram formulas solve P0 only (driver.hpp)
      const bool gram = m != Method::coala;
      double kap = gram ? s.kappa_g() + s.kappa_c() + s.kappa_x : s.kappa_c();
      if (m == Method::pinv) kap += cut;  // where pinv cuts X's range
      std::vector<int> ps = opt.quick ? std::vector<int>{64, 128} : std::vector<int>{64, 128, 256, 512};
      for (int bits : ps) {
        const double up = std::ldexp(1.0, -bits);
        // The promise is informative only while u_p d kappa is small: the Gram formulas need
        // u_p kappa(X)^2 < 1, i.e. p >= 128 bits at kappa = 1e16 (p = 64 breaks their Cholesky).
        if (up * double(p.dim()) * kap > 1e-3) continue;
        std::optional<ReferencePrecision> at_p;
        at_p.emplace(bits);
        const RefRun lo = ref_solve(p, m, p.mu);
        at_p.emplace(2 * bits);  // the comparison below runs at 2p too
        const RefRun hi = ref_solve(p, m, p.mu);
        const bool ran = lo.sol.report.ok() && hi.sol.report.ok();
        double rW = INFINITY, rs = INFINITY, rel = INFINITY;
        if (ran) {
          const mpreal dW = (MatrixMP(lo.Wp.cast<mpreal>()) - hi.Wp).norm();
          rel = (dW / hi.Wp.norm()).toDouble();
          rW = dW.toDouble() / (up * double(p.dim()) * kap * s.norm_wf);
          mpreal ds(0);
          for (Index i = 0; i < hi.sol.singular_values.size(); ++i)
            ds = max(ds, abs(mpreal(lo.sol.singular_values(i)) - hi.sol.singular_values(i)));
          // Gram methods decompose W S (S = chol or G^(1/2) factor): same singular values as W X.
          rs = ds.toDouble() / (up * double(p.dim()) * s.norm_w2 * s.norm_x2 * (gram ? s.kappa_x : 1.0));
        }
        const bool ok = ran && rW < thr && rs < thr;
        c.expect(ok, p.name + ": " + method_name(m) + " at " + std::to_string(bits) + " vs " + std::to_string(2 * bits) +
                         " bits" + (ran ? " disagree beyond u_p * sensitivity" : " failed: " + lo.sol.report.failure + hi.sol.report.failure));
        t.add({p.name, sci(s.kappa_x), sci(p.mu, 0), method_name(m), std::to_string(bits), std::to_string(2 * bits), sci(rel), sci(rW), sci(rs),
               ok ? "yes" : "NO"});
      }
    }
  }
  c.table(t, "self_consistency.csv");
  return c.finish();
}

}  // namespace lowrank::proofs_checks
