// Check 6 (MATH.md 1.3, last paragraph): floating-point error model. Over a sweep of kappa(X)
// from 1 to 1/u, COALA's forward error in float32 and float64 grows like u * kappa and the Gram
// formulas' like u * kappa^2 until they break; slopes fitted and checked, and the kappa where
// each Gram formula's Cholesky breaks down (fallback fires) or its result breaks is recorded.
// README section "6. Floating-point error model".
#include <cmath>
#include <map>

#include "common.hpp"
#include "lowrank/data/generate.hpp"
#ifdef LOWRANK_PROOFS_HAVE_CPU
#include "lowrank/fast/cpu_backend.hpp"
#endif

namespace lowrank::proofs_checks {

namespace {

// X (N x n) with one small singular value 1/kappa (DLATMS mode 2), stored in `dtype`;
// W = K diag(1/s) U_x^T from the high-precision SVD of the stored X, so that W X = K V_x^T: the
// singular values of W X are K's whatever kappa is, while ||W||^2 = sum_i ||K e_i||^2 / s_i^2
// grows like kappa^2 (one term; the other n-1 are O(1), negligible once kappa >> sqrt(n)). Then
// kappa_C = ||W|| ||X|| / gap grows like kappa(X) and kappa_G like kappa(X)^2 (README 6).
// (A geometric spectrum spreads ||W||^2 over the last few terms, a prefactor 1/(1 - kappa^(-2/(n-1)))
// that drifts with kappa and biases fitted slopes low by ~0.1 at n = 16.)
Problem fp_case(double kappa, int seed, Dtype dtype) {
  const Index m = 32, n = 16, N = 64;
  data::MatrixSpec xs;
  xs.rows = N, xs.cols = n, xs.mode = data::Mode::one_small, xs.cond = kappa, xs.dtype = dtype;
  data::Rng rng(9000 + 17 * seed);
  const MatrixXd X = data::generate_matrix(xs, rng, 128);
  data::MatrixSpec ks;
  ks.rows = m, ks.cols = n, ks.mode = data::Mode::geometric, ks.cond = 10;  // s(WX) = s(K): gap at r fixed
  const MatrixXd K = data::generate_matrix(ks, rng, 128);
  const ThinSvd<mpreal> sx = mp_svd(MatrixMP(mp(X).transpose()));  // X^T... paper X = U_x S V_x^T
  VectorMP inv(n);
  for (Index i = 0; i < n; ++i) inv(i) = 1 / sx.s(i);
  const MatrixMP W = mp(K) * inv.asDiagonal() * sx.U.transpose();
  return {"kappa=" + sci(kappa, 1), data::round_once(W, dtype), X, 4};
}

struct Run {
  double err = NAN;     // ||W'_c - W'_*||_F / ||W'_*||_F, NaN when no factors
  bool fallback = false;  // svd-llm: Cholesky broke down, SVD-LLM's shift fired; damped: doubled
  bool failed = false;
};

#ifdef LOWRANK_PROOFS_HAVE_CPU
template <class T>
Run run_fast(const Problem& p, Method m, const MatrixMP& Wstar) {
  CpuBackend<T> be;
  MatrixRowSource X(p.X, double(ScalarTraits<T>::unit_roundoff()), p.name);
  SolveOptions o;
  o.method = m;
  o.rank = p.r;
  Run run;
  try {
    const Solution<T> s = solve(be, Mat<T>(p.W.cast<T>()), X, o);
    run.failed = !s.report.ok();
    run.fallback = !s.report.notes.empty();
    if (!run.failed)
      run.err = ((mp(s.A.template cast<double>()) * mp(s.B.template cast<double>()) - Wstar).norm() / Wstar.norm()).toDouble();
  } catch (const std::exception&) {
    run.failed = true;  // LAPACK info != 0 (e.g. singular inverse): the formula broke
  }
  return run;
}
#endif

}  // namespace

CheckResult check_fp_model(const ProveOptions& opt) {
  CheckContext c(opt, "fp-model",
                 "forward error ~ u kappa (COALA) and ~ u kappa^2 (svd-llm, svd-llm-v2, pinv) in float32/float64");
#ifndef LOWRANK_PROOFS_HAVE_CPU
  c.expect(false, "the float32/float64 backend (fast/cpu, target lowrank_fast_cpu) is not built: nothing to measure");
  return c.finish();
#else
  // Reference at 128 bits: its error u_128 kappa_C <= 3e-39 * 1e17 is far below every float64
  // error measured here (>= 1e-16); the generator computes at 128 bits too and rounds once.
  const ReferencePrecision precision(128);
  const std::vector<Method> methods = {Method::coala, Method::svd_llm, Method::svd_llm_v2, Method::pinv, Method::damped};
  // float32 errors scatter more from seed to seed (fewer digits, same number of rounding events):
  // more seeds there.
  const int seeds32 = opt.quick ? 6 : 16, seeds64 = opt.quick ? 3 : 6;
  // Slope tolerance (README 6): the least-squares slope of log10(err) on x = log10(kappa) has
  // standard error SE = sqrt(sum sigma_i^2 dx_i^2) / sum dx_i^2 (dx_i = x_i - xbar), sigma_i the
  // standard error of the point's log10 geometric mean over the seeds, bounded by (half the log10
  // range over seeds) / sqrt(seeds). Tolerance: 3 SE (three sigma), at least 0.05.
  const double slope_tol_min = 0.05;
  // First-order regime: below err_max = 0.05 the second-order terms are <= 5% of the first.
  const double err_max = 5e-2, floor_factor = 10;
  c.out << "  m x n = 32 x 16, N = 64, r = 4; X: one small singular value 1/kappa; W = K diag(1/s) U_x^T so kappa_C ~ kappa(X); geometric mean over " << seeds32 << " (float32) / "
        << seeds64 << " (float64) seeds;\n  fit range: error >= " << floor_factor << " x its value at kappa = 1 (the model term dominates the floor), before breakdown\n"
        << "  (no fallback, no failure, error < " << sci(err_max, 0) << ": first-order regime), >= 5 points over >= 1.5 decades; |slope - p| <= "
        << "tol, tol = max(" << slope_tol_min << ", 3 SE), SE the slope's standard error from the seed scatter (README 6)\n";
  Table fits({"dtype", "method", "model", "fit range kappa", "points", "slope", "tol", "ok", "first fallback at kappa", "first break at kappa",
              "guaranteed-success bound"});
  Table pts({"dtype", "kappa(X)", "method", "err (geo-mean)", "min", "max", "fallback seeds", "failed seeds"});
  std::string gp;
  for (Dtype dt : {Dtype::float32, Dtype::float64}) {
    const bool f32 = dt == Dtype::float32;
    const int seeds = f32 ? seeds32 : seeds64;
    const double u = f32 ? 0x1p-24 : 0x1p-53;
    const double kmax = 1 / u;
    // The Gram formulas live on ~2.5 decades before breaking near u^(-1/2): quarter-decade steps
    // up to there in float32; elsewhere half decades (quick: whole decades in float64).
    auto step_at = [&](double e) { return f32 ? (e < 4 ? 0.25 : 0.5) : (opt.quick ? 1.0 : 0.5); };
    std::vector<double> kap;
    for (double e = 0; std::pow(10.0, e) <= kmax * 1.0001; e += step_at(e)) kap.push_back(std::pow(10.0, e));
    if (kap.back() < 0.99 * kmax) kap.push_back(kmax);  // the sweep ends at kappa = 1/u
    std::map<Method, std::vector<double>> gerr, gspread;
    std::map<Method, std::vector<int>> nfb, nfail;
    std::vector<double> kx;
    for (double kappa : kap) {
      std::map<Method, double> logsum;
      std::map<Method, double> mn, mx;
      std::map<Method, int> fb, fl, cnt;
      double logk = 0;
      for (int sd = 0; sd < seeds; ++sd) {
        const Problem p = fp_case(kappa, sd, dt);
        const RefRun ref = ref_solve(p, Method::coala);
        const auto& xsv = ref.sol.report.x_singular_values;
        logk += std::log10(xsv.front() / xsv.back());
        for (Method m : methods) {
          const Run r = f32 ? run_fast<float>(p, m, ref.Wp) : run_fast<double>(p, m, ref.Wp);
          fb[m] += r.fallback;
          fl[m] += r.failed;
          if (!r.failed) {
            const double e = std::max(r.err, 1e-300);
            logsum[m] += std::log10(e), cnt[m]++;
            mn[m] = cnt[m] == 1 ? e : std::min(mn[m], e);
            mx[m] = cnt[m] == 1 ? e : std::max(mx[m], e);
          }
        }
      }
      kx.push_back(std::pow(10.0, logk / seeds));
      for (Method m : methods) {
        const double g = cnt[m] ? std::pow(10.0, logsum[m] / cnt[m]) : NAN;
        gerr[m].push_back(g);
        gspread[m].push_back(cnt[m] ? std::log10(mx[m] / mn[m]) / 2 / std::sqrt(double(cnt[m])) : INFINITY);
        nfb[m].push_back(fb[m]);
        nfail[m].push_back(fl[m]);
        pts.add({dtype_name(dt), sci(kx.back()), method_name(m), sci(g), cnt[m] ? sci(mn[m]) : "", cnt[m] ? sci(mx[m]) : "",
                 std::to_string(fb[m]), std::to_string(fl[m])});
      }
    }
    // Fits. Pre-breakdown range: from fit_from up to the first kappa where any seed fell back,
    // failed, or the error left the first-order regime (err >= err_max).
    // Guaranteed Cholesky success (README 6): no breakdown while
    // kappa^2 (N n + 20 n^1.5) u < 1 (Gram rounding + Demmel's Cholesky condition).
    const double guarantee = 1 / std::sqrt((64.0 * 16 + 20 * std::pow(16.0, 1.5)) * u);
    std::string dat = "# kappa";
    for (Method m : methods) dat += std::string(" ") + method_name(m);
    dat += "\n";
    for (std::size_t i = 0; i < kap.size(); ++i) {
      dat += sci(kx[i], 6);
      for (Method m : methods) dat += " " + (std::isnan(gerr[m][i]) ? std::string("NaN") : sci(gerr[m][i], 6));
      dat += "\n";
    }
    const std::string datf = std::string("fp_model_") + dtype_name(dt) + ".dat";
    c.write(datf, dat);
    double fb_svdllm = NAN;
    for (Method m : methods) {
      double first_fb = NAN, first_break = NAN;
      const double floor = gerr[m][0];
      std::vector<double> xs, ys, hs;
      bool broken = false;
      for (std::size_t i = 0; i < kap.size(); ++i) {
        if (nfb[m][i] > 0 && std::isnan(first_fb)) first_fb = kx[i];
        const bool brk = nfb[m][i] > 0 || nfail[m][i] > 0 || !(gerr[m][i] < err_max);
        if (brk && std::isnan(first_break)) first_break = kx[i];
        broken = broken || brk;
        if (!broken && gerr[m][i] >= floor_factor * floor) xs.push_back(kx[i]), ys.push_back(gerr[m][i]), hs.push_back(gspread[m][i]);
      }
      if (m == Method::svd_llm) fb_svdllm = first_fb;
      const double slope = xs.size() >= 2 ? loglog_slope(xs, ys) : NAN;
      if (m == Method::damped) {
        // damped solves a different problem (G + d mean(diag G) I): its error is d-driven, not u-driven.
        fits.add({dtype_name(dt), method_name(m), "not fitted", "", "", fix(slope, 3), "", "-", sci(first_fb), sci(first_break), ""});
        continue;
      }
      const double model = m == Method::coala ? 1.0 : 2.0;
      // At least 5 points over 1.5 decades of pre-breakdown data, else the slope says nothing.
      const bool enough = xs.size() >= 5 && xs.back() / xs.front() >= 31;
      double slope_tol = INFINITY;
      if (xs.size() >= 2) {
        double xbar = 0, num = 0, ssq = 0;
        for (double x : xs) xbar += std::log10(x) / double(xs.size());
        for (std::size_t i = 0; i < xs.size(); ++i) {
          const double dx = std::log10(xs[i]) - xbar;
          num += hs[i] * hs[i] * dx * dx, ssq += dx * dx;
        }
        slope_tol = std::max(slope_tol_min, 3 * std::sqrt(num) / ssq);
      }
      const bool ok = enough && std::abs(slope - model) <= slope_tol;
      c.expect(ok, std::string(dtype_name(dt)) + " " + method_name(m) + ": slope " + fix(slope, 3) + " over " +
                       std::to_string(xs.size()) + " points, expected " + fix(model, 0) + " +- " + fix(slope_tol, 2));
      bool guar_ok = true;
      if (m == Method::svd_llm) {
        guar_ok = std::isnan(first_fb) || first_fb >= guarantee;
        c.expect(guar_ok, std::string(dtype_name(dt)) + " svd-llm: Cholesky fell back at kappa " + sci(first_fb) +
                              " below the guaranteed-success bound " + sci(guarantee));
      }
      fits.add({dtype_name(dt), method_name(m), "u kappa^" + fix(model, 0),
                xs.empty() ? "-" : sci(xs.front(), 0) + ".." + sci(xs.back(), 0), std::to_string(xs.size()), fix(slope, 3), fix(slope_tol, 3),
                ok && guar_ok ? "yes" : "NO", sci(first_fb), sci(first_break), m == Method::svd_llm ? sci(guarantee) : ""});
    }
    // Mark where svd-llm's Cholesky first fell back (red) and the nominal u^(-1/2) (gray).
    gp += "unset arrow\nunset label\nset arrow from " + sci(1 / std::sqrt(u), 3) +
          ",graph 0 to " + sci(1 / std::sqrt(u), 3) + ",graph 1 nohead dt 4 lc rgb 'gray'\n"
          "set label 'u^{-1/2}' at " + sci(1.2 / std::sqrt(u), 3) + ",graph 0.04 tc rgb 'gray'\n";
    if (!std::isnan(fb_svdllm))
      gp += "set arrow from " + sci(fb_svdllm, 3) + ",graph 0 to " + sci(fb_svdllm, 3) + ",graph 1 nohead lw 2 lc rgb 'red'\n"
            "set label 'svd-llm Cholesky fails, fallback fires' at " + sci(fb_svdllm * 1.3, 3) + ",graph 0.95 tc rgb 'red'\n";
    gp += "set title 'forward error vs kappa(X), " + std::string(dtype_name(dt)) + " (u = " + sci(u, 1) + ")'\n"
          "plot [1:" + sci(2 / u, 0) + "] '" + datf + "' u 1:2 w lp pt 7 lw 2 t 'coala', '' u 1:3 w lp pt 5 lw 2 t 'svd-llm', "
          "'' u 1:4 w lp pt 9 lw 2 t 'svd-llm-v2', '' u 1:5 w lp pt 11 lw 2 t 'pinv', '' u 1:6 w lp pt 13 lw 1 dt 3 t 'damped (other problem)', "
          "x*" + sci(u, 3) + " w l lc rgb 'gray' dt 2 t 'u kappa', x*x*" + sci(u, 3) + " w l lc rgb 'black' dt 2 t 'u kappa^2'\n";
  }
  c.table(fits, "fp_model_fits.csv");
  c.write("fp_model.csv", pts.csv());
  c.plot("fp_model.gp",
         "set terminal pngcairo size 1400,600 font ',10'\nset output 'PNGTMP'\nset logscale xy\nset format x '10^{%L}'\n"
         "set format y '10^{%L}'\nset yrange [1e-18:1e3]\nset xlabel 'kappa(X)'\nset ylabel '||W_c - W_*||_F / ||W_*||_F'\n"
         "set key bottom right\nset grid\nset multiplot layout 1,2\n" + gp + "unset multiplot\n",
         "fp_model.png");
  return c.finish();
#endif
}

}  // namespace lowrank::proofs_checks
