// Check 5 (MATH.md 1.1, step 1): R from any token blocking (TSQR, R_i = qr_R([R_{i-1}; X_i^T]))
// equals the one-shot R up to the signs of its rows, and the solution does not depend on the
// blocking. README section "5. Streaming invariance".
#include <cmath>

#include "common.hpp"
#ifdef LOWRANK_PROOFS_HAVE_CPU
#include "lowrank/fast/cpu_backend.hpp"
#endif

namespace lowrank::proofs_checks {

CheckResult check_streaming(const ProveOptions& opt) {
  CheckContext c(opt, "streaming", "any token blocking gives R up to row signs and the same W'");
  const double u = unit_roundoff_bits(reference_bits());
  const double thr = 30;
  c.out << "  ratio_R = ||R_b - R_N||_F / (u d kappa(X) ||R||_F), ratio_W = ||W'_b - W'_N||_F / (u d kappa_C ||W||_F)\n  "
        << "(R_N, W'_N: one-shot at 256 bits; backends: reference (u = 2^-" << reference_bits() << ") and cpu float64 (u = 2^-53)), "
        << "rows of R normalised to a nonnegative diagonal; threshold " << thr << "\n";
  std::vector<Problem> cases;
  {
    Rng g(501);
    cases.push_back({"N=200, n=20, kappa=1e6", gaussian(30, 20, g), latms(200, 20, geometric(20, 1e6), g), 6});
  }
  {
    Rng g(502);  // fewer tokens than features: R is N x n trapezoidal, padded with zero rows
    cases.push_back({"N=10 < n=20, kappa=1e3", gaussian(30, 20, g), latms(10, 20, geometric(10, 1e3), g), 6});
  }
  if (!opt.quick) {
    Rng g(503);
    MatrixXd X = latms(300, 24, geometric(24, 1e10), g);
    X.col(3) *= 1e4;
    cases.push_back({"N=300, n=24, kappa=1e10 + outlier", gaussian(16, 24, g), X, 5});
  }
  Table t({"case", "backend", "block", "stages", "||R_b - R_N||/||R||", "ratio_R", "||W'_b - W'_N||/||W'||", "ratio_W", "ok"});
  for (const Problem& p : cases) {
    ReferenceBackend be;
    MatrixRowSource X(p.X, 0x1p-53, p.name);
    MatrixMP R1 = be.accumulate_r(X, p.N());
    normalize_row_signs(R1);
    const RefRun one = ref_solve(p, Method::coala, 0.0, p.N());
    const Sensitivity s = sensitivity(p, one.sol.report);
    // kappa over the nonzero singular values (N < n: X has rank N, R's zero rows carry no error).
    const ThinSvd<mpreal> sx = mp_svd(mp(p.X));
    const Index q = std::min(p.N(), p.n());
    const double kx = (sx.s(0) / sx.s(q - 1)).toDouble();
    std::vector<Index> blocks = opt.quick ? std::vector<Index>{1, 7, 20, 64} : std::vector<Index>{1, 2, 3, 7, 19, 20, 21, 64, 199};
    for (Index b : blocks) {
      if (b >= p.N()) continue;
      MatrixMP Rb = be.accumulate_r(X, b);
      normalize_row_signs(Rb);
      const double dR = (Rb - R1).norm().toDouble() / R1.norm().toDouble();
      const double ratio_R = dR / (u * double(p.dim()) * kx);
      const RefRun rb = ref_solve(p, Method::coala, 0.0, b);
      const double dW = (rb.Wp - one.Wp).norm().toDouble();
      const double ratio_W = dW / (u * double(p.dim()) * s.kappa_c() * s.norm_wf);
      const bool ok = ratio_R < thr && ratio_W < thr && Rb.rows() == p.n();
      c.expect(ok, p.name + ": block " + std::to_string(b) + " changes R or W' beyond rounding");
      t.add({p.name, "reference", std::to_string(b), std::to_string((p.N() + b - 1) / b), sci(dR), sci(ratio_R),
             sci(dW / one.Wp.norm().toDouble()), sci(ratio_W), ok ? "yes" : "NO"});
#ifdef LOWRANK_PROOFS_HAVE_CPU
      {
        // The float64 backend's streaming TSQR (?tpqrt's algorithm per block, recursive panels) against the exact
        // R and W' (the 256-bit one-shot results): forward errors within u_64 d kappa (same
        // error model, u = 2^-53).
        const double u64 = 0x1p-53;
        CpuBackend<double> cpu;
        MatrixRowSource Xd(p.X, u64, p.name);
        MatrixXd Rd = cpu.accumulate_r(Xd, b);
        normalize_row_signs(Rd);
        const MatrixMP Rex = R1;
        const double dRd = (mp(Rd) - Rex).norm().toDouble() / Rex.norm().toDouble();
        const double rRd = dRd / (u64 * double(p.dim()) * kx);
        SolveOptions o;
        o.rank = p.r;
        o.block_rows = b;
        const Solution<double> sd = solve(cpu, p.W, Xd, o);
        const double dWd = (mp(MatrixXd(sd.A * sd.B)) - one.Wp).norm().toDouble();
        const double rWd = dWd / (u64 * double(p.dim()) * s.kappa_c() * s.norm_wf);
        const bool okd = rRd < thr && rWd < thr;
        c.expect(okd, p.name + ": cpu float64, block " + std::to_string(b) + ": R or W' off beyond u d kappa");
        t.add({p.name, "cpu float64", std::to_string(b), std::to_string((p.N() + b - 1) / b), sci(dRd), sci(rRd),
               sci(dWd / one.Wp.norm().toDouble()), sci(rWd), okd ? "yes" : "NO"});
      }
#endif
    }
  }
  c.table(t, "streaming.csv");
  return c.finish();
}

}  // namespace lowrank::proofs_checks
