// Compressible dynamics, equivalence (MATH.md section 2): under full observation with gamma = 0,
// the compressed network's product follows the full-width product at every step, up to the
// rho^L part: P_full(t) = P_comp(t) + (rho(t)/eps)^L P_full(0) (I - V V^T). Reference (MPFR) and
// cpu float64. README "Compressible dynamics", equivalence.
#include <cmath>

#include "common.hpp"
#include "dynamics_common.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace lowrank::proofs_checks {

namespace {

template <class Backend>
void run_case(CheckContext& c, Table& t, Backend& be, const dynamics::Config& cfg, double u, const std::string& label) {
  using T = typename Backend::Scalar;
  using std::pow;
  const dynamics::ProblemData data = dynamics::make_problem(cfg);
  const dynamics::Setup<T> s = dynamics::make_setup(be, cfg, data);
  dynamics::FullTrainer<Backend> full(be, s);
  dynamics::CompressedTrainer<Backend> comp = dynamics::compress(be, s);
  // The rho^L part, fixed up to the factor (rho/eps)^L: P(0) (I - V V^T).
  full.evaluate();
  const Mat<T> P0 = full.product();
  Mat<T> P0V, tail;
  be.gemm(false, false, T(1), P0, comp.V, T(0), P0V);
  be.gemm(false, true, T(-1), P0V, comp.V, T(0), tail);
  tail += P0;
  // Sensitivity of the compressed basis (Wedin): kappa_G = s_1(G) / (s_r(G) - s_r+1(G)).
  dynamics::FullTrainer<Backend> g0(be, s);
  g0.evaluate();
  const auto gs = lowrank::detail::singular_values(be, g0.first_gradient());
  const Index r = cfg.rank, d = cfg.width, L = cfg.depth;
  const double kappa_g = dyn::dbl(gs(0)) / dyn::dbl(T(gs(r - 1) - gs(r)));
  T rho = s.eps;
  double worst = 0, loss0 = 0;
  for (long step = 0; step <= cfg.steps; ++step) {
    if (step > 0) {
      full.evaluate();
    }
    const auto ev = comp.evaluate();
    if (step == 0) loss0 = dyn::dbl(ev.loss);
    const Mat<T>& Pf = full.product();
    const Mat<T>& Pc = comp.product();
    const T scale = T(pow(rho / s.eps, T(double(L))));
    const double pf = dyn::dbl(T(Pf.norm()));
    const double err = dyn::dbl(T((Pf - Pc - scale * tail).norm())) / pf;
    const double naive = dyn::dbl(T((Pf - Pc).norm()));
    const double rho_part = dyn::dbl(T(pow(rho, T(double(L))))) * std::sqrt(double(d - 2 * r));
    double wmax = 0;
    for (const auto& w : full.W) wmax = std::max(wmax, dyn::dbl(T(w.norm())));  // ||.||_F >= ||.||_2: cheap every step
    // Relative to ||P||: the subspace error u d kappa_G, plus the accumulation bound of the two
    // trajectories (each B of README "Compressible dynamics", relative: divided by ||W||^L >= ||P||).
    const double bound = u * double(d) * kappa_g + 2 * dyn::accumulation_bound(u, d, L, step, cfg.eps, wmax) / wmax;
    worst = std::max(worst, err / bound);
    const bool ok = err <= bound;
    if (step % cfg.record_every == 0 || step == cfg.steps) {
      c.expect(ok, label + " step " + std::to_string(step) + ": ||P_full - P_comp - rho part|| / ||P|| = " + sci(err) +
                       " > bound " + sci(bound));
      t.add({label, std::to_string(step), sci(dyn::dbl(ev.loss)), sci(naive), sci(rho_part), sci(err), sci(bound),
             sci(err / bound), ok ? "yes" : "NO"});
    } else if (!ok) {
      c.expect(false, label + " step " + std::to_string(step) + ": error " + sci(err) + " > bound " + sci(bound));
    }
    if (step == cfg.steps) break;
    full.update();
    comp.update();
    rho = dynamics::rho_next(s, rho);
  }
  const double fall = dyn::dbl(comp.evaluate().loss) / loss0;
  c.out << "  " << label << ": kappa_G = " << sci(kappa_g) << ", loss fell by " << sci(1 / fall)
        << ", tightness max err / bound = " << sci(worst) << "\n";
  c.expect(fall < 1e-3, label + ": the loss fell only by " + sci(1 / fall) + "; the run did not learn, the check would be vacuous");
}

}  // namespace

CheckResult check_dynamics_equivalence(const ProveOptions& opt) {
  CheckContext c(opt, "dynamics-equivalence",
                 "full observation, gamma = 0: compressed and full-width products agree at every step up to the rho^L part");
  c.out << "  err = ||P_full(t) - P_comp(t) - (rho/eps)^L P_full(0)(I - V V^T)||_F / ||P_full(t)||_F, checked at every step;\n"
        << "  bound = u d kappa_G + 2 B(t) / w, B with w = max_l ||W_l||_F, kappa_G = s_1(G) / (s_r(G) - s_r+1(G)) (README)\n"
        << "  ||P_full - P_comp||_F is the rho^L part, rho^L sqrt(d - 2r), up to that error\n";
  Table t({"run", "step", "loss", "||P_full - P_comp||", "rho^L sqrt(d-2r)", "err", "bound", "err / bound", "ok"});
  dynamics::Config cfg;
  cfg.depth = 3, cfg.rank = 2, cfg.eps = 0.3, cfg.eta = 2.0, cfg.weight_decay = 1e-3, cfg.gamma = 0, cfg.seed = 11;
  cfg.compressed = true;
  {
    cfg.width = 12, cfg.steps = opt.quick ? 120 : 200, cfg.record_every = 40;
    ReferenceBackend be;
    run_case(c, t, be, cfg, unit_roundoff_bits(reference_bits()), "reference mpfr" + std::to_string(reference_bits()) + " d=12");
  }
  {
    // eta ~ 0.1 d^(4/3): the run learns within the steps (README).
    cfg.width = opt.quick ? 60 : 200, cfg.rank = 3, cfg.eta = opt.quick ? 40 : 100, cfg.weight_decay = 1e-3 / cfg.eta;  // eta lambda = 1e-3
    cfg.steps = opt.quick ? 400 : 400, cfg.record_every = 100;
    CpuBackend<double> be;
    run_case(c, t, be, cfg, 0x1p-53, "cpu float64 d=" + std::to_string(cfg.width));
  }
  c.table(t, "dynamics_equivalence.csv");
  return c.finish();
}

}  // namespace lowrank::proofs_checks
