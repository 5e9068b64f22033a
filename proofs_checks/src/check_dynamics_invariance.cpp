// Compressible dynamics, invariance (MATH.md section 2): under full observation, d - 2r singular
// values of every W_l(t) equal rho(t) of the recursion, and the complement of the 2r-dimensional
// learning subspace does not move. Reference (MPFR) and cpu float64. README "Compressible
// dynamics", invariance.
#include <algorithm>
#include <numeric>

#include "common.hpp"
#include "dynamics_common.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace lowrank::proofs_checks {

namespace {

struct LayerStats {
  double dev = 0;      // (d - 2r)-th smallest |sigma_i - rho|, absolute
  double gap = 0;      // smallest |sigma_j - rho| over the other 2r
  double sin_max = 0;  // sin of the largest principal angle, complement(t) vs complement(0)
};

template <class Backend>
LayerStats layer_stats(Backend& be, const Mat<typename Backend::Scalar>& W, const Mat<typename Backend::Scalar>& Q,
                       const typename Backend::Scalar& rho, Index k) {
  using T = typename Backend::Scalar;
  const ThinSvd<T> s = be.svd(W);
  const Index d = W.rows();
  std::vector<double> dev(d);
  for (Index i = 0; i < d; ++i) dev[i] = dyn::dbl(T(abs(s.s(i) - rho)));
  std::vector<Index> idx(d);
  std::iota(idx.begin(), idx.end(), Index(0));
  std::stable_sort(idx.begin(), idx.end(), [&](Index a, Index b) { return dev[a] < dev[b]; });
  LayerStats st;
  st.dev = dev[idx[k - 1]];
  st.gap = dev[idx[k]];
  Mat<T> C(d, k);
  for (Index j = 0; j < k; ++j) C.col(j) = s.V.col(idx[j]);
  // complement(0) is the orthogonal complement of span Q: sin theta_max = ||Q^T C||_2.
  Mat<T> QtC;
  be.gemm(true, false, T(1), Q, C, T(0), QtC);
  st.sin_max = dyn::spectral_norm(be, QtC);
  return st;
}

template <class Backend>
void run_case(CheckContext& c, Table& t, Backend& be, const dynamics::Config& cfg, double u, const std::string& label) {
  using T = typename Backend::Scalar;
  const dynamics::ProblemData data = dynamics::make_problem(cfg);
  const dynamics::Setup<T> s0 = dynamics::make_setup(be, cfg, data);
  const auto Q = dyn::learning_bases(be, s0, data);
  const Index d = cfg.width, k = d - 2 * cfg.rank;
  double worst_ratio = 0, worst_angle_ratio = 0;
  long asserted_angles = 0;
  dynamics::Observer<T> obs = [&](const dynamics::Snapshot<T>& snap) {
    const auto& W = *snap.layers;
    double dev = 0, gap = INFINITY, sin_max = 0, wmax = 0;
    for (std::size_t l = 0; l < W.size(); ++l) {
      const LayerStats st = layer_stats(be, W[l], Q[l], snap.rho, k);
      dev = std::max(dev, st.dev), gap = std::min(gap, st.gap), sin_max = std::max(sin_max, st.sin_max);
      wmax = std::max(wmax, dyn::spectral_norm(be, W[l]));
    }
    const double B = dyn::accumulation_bound(u, d, cfg.depth, snap.step, cfg.eps, wmax);
    // Davis-Kahan / Wedin: sin theta <= ||dW||_2 / gap, asserted where the bound says something (< 1).
    const double angle_bound = gap > 0 ? B / gap : INFINITY;
    const bool dev_ok = dev <= B;
    const bool angle_asserted = angle_bound < 1;
    const bool angle_ok = !angle_asserted || sin_max <= angle_bound;
    asserted_angles += angle_asserted;
    worst_ratio = std::max(worst_ratio, dev / B);
    if (angle_asserted) worst_angle_ratio = std::max(worst_angle_ratio, sin_max / angle_bound);
    c.expect(dev_ok, label + " step " + std::to_string(snap.step) + ": |sigma - rho| = " + sci(dev) + " > bound " + sci(B));
    c.expect(angle_ok, label + " step " + std::to_string(snap.step) + ": complement moved, sin = " + sci(sin_max) +
                           " > bound " + sci(angle_bound));
    t.add({label, std::to_string(snap.step), sci(dyn::dbl(snap.rho), 6), sci(dev / cfg.eps), sci(B / cfg.eps), sci(dev / B),
           sci(gap / cfg.eps), sci(sin_max), angle_asserted ? sci(angle_bound) : "(gap too small)", dev_ok && angle_ok ? "yes" : "NO"});
  };
  dynamics::Config run = cfg;
  const auto res = dynamics::train(be, run, data, obs);
  const double fall = res.curve.back().loss / res.curve.front().loss;
  c.out << "  " << label << ": " << res.timings.steps_done << " steps, loss fell by " << sci(1 / fall) << " (final recovery error "
        << sci(res.curve.back().recovery_error) << ", floored by the rho^L part)"
        << ", worst |sigma - rho| / B = " << sci(worst_ratio) << ", worst sin / (B / gap) = " << sci(worst_angle_ratio)
        << " over " << asserted_angles << " recorded steps with B / gap < 1\n";
  // The learned singular values must have left rho (else the check would compare a start with itself).
  c.expect(fall < 1e-3, label + ": the loss fell only by " + sci(1 / fall) + "; the run did not learn, the check would be vacuous");
}

}  // namespace

CheckResult check_dynamics_invariance(const ProveOptions& opt) {
  CheckContext c(opt, "dynamics-invariance",
                 "full observation: d - 2r singular values of every W_l(t) equal rho(t); the complement subspace stays fixed");
  c.out << "  deep matrix factorization, L = 3, loss c/2 ||W_L...W_1 - Phi||_F^2, c = 1/d^2; rho(t+1) = rho(t)(1 - eta lambda - c eta rho^(2(L-1)))\n"
        << "  dev = (d-2r)-th smallest |sigma_i(W_l(t)) - rho(t)| over l; bound B = u d (eps + 2 L (t+1) max_l ||W_l(t)||_2)\n"
        << "  angle: sin of the largest principal angle of the (d-2r)-dim complement vs t = 0, bound B / gap (Wedin), asserted where < 1\n";
  Table t({"run", "step", "rho", "dev / eps", "B / eps", "dev / B", "gap / eps", "sin angle", "bound", "ok"});
  // Steps eta ~ 0.1 d^(4/3) (below the stability limit ~0.26 d^(4/3), README) and eps = 0.3, so
  // that every run learns the target within the steps: the escape takes ~d^2 / (eta s_r eps).
  dynamics::Config cfg;
  cfg.depth = 3, cfg.rank = 2, cfg.eps = 0.3, cfg.eta = 2.0, cfg.weight_decay = 1e-4, cfg.seed = 7;
  {
    cfg.width = 12, cfg.steps = opt.quick ? 120 : 200, cfg.record_every = opt.quick ? 30 : 20;
    ReferenceBackend be;
    run_case(c, t, be, cfg, unit_roundoff_bits(reference_bits()), "reference mpfr" + std::to_string(reference_bits()) + " d=12");
  }
  {
    cfg.width = opt.quick ? 40 : 80, cfg.rank = 3, cfg.eta = opt.quick ? 12 : 30;
    cfg.steps = opt.quick ? 150 : 300, cfg.record_every = opt.quick ? 30 : 30;
    CpuBackend<double> be;
    run_case(c, t, be, cfg, 0x1p-53, "cpu float64 d=" + std::to_string(cfg.width));
  }
  c.table(t, "dynamics_invariance.csv");
  return c.finish();
}

}  // namespace lowrank::proofs_checks
