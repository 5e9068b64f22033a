// Check 3 (MATH.md 1.1, uniqueness): with rank(X) < n the minimizers of P0 are
// W' = U_r (U_r^T W Pi + Y (I - Pi)), Y arbitrary (Pi the projector onto range(X)); COALA's
// U_r U_r^T W (Y = U_r^T W) is the one nearest to W, pinv's U_r U_r^T W Pi (Y = 0) the one of
// least norm. README section "3. Nearest minimizer" has the derivation.
#include <cmath>

#include "common.hpp"

namespace lowrank::proofs_checks {

namespace {
std::vector<Problem> nearest_cases(bool quick) {
  std::vector<Problem> c;
  {
    Rng g(301);
    c.push_back({"N<n (N=16, n=30)", gaussian(40, 30, g), latms(16, 30, geometric(16, 1e2), g), 6});
  }
  {
    Rng g(302);  // dead and duplicated input features: exact rank deficiency with N >= n
    MatrixXd X = latms(60, 30, geometric(30, 1e2), g);
    for (Index j : {3, 9, 14, 22, 27}) X.col(j).setZero();
    X.col(5) = X.col(1);
    X.col(11) = X.col(2);
    c.push_back({"dead+duplicate features (rank 23)", gaussian(40, 30, g), X, 8});
  }
  if (!quick) {
    Rng g(303);
    c.push_back({"N<n (N=10, n=30), r=9", gaussian(25, 30, g), latms(10, 30, geometric(10, 1e4), g), 9});
    MatrixXd X = latms(50, 20, geometric(20, 1e3), g);
    for (Index j : {0, 1, 2, 3}) X.col(j).setZero();
    c.push_back({"4 dead features (rank 16), r=16", gaussian(30, 20, g), X, 16});
  }
  return c;
}
}  // namespace

CheckResult check_nearest(const ProveOptions& opt) {
  CheckContext c(opt, "nearest",
                 "rank(X) < n: COALA's U_r U_r^T W is the minimizer nearest to W, pinv's the one of least norm");
  const double u = unit_roundoff_bits(reference_bits());
  const double thr = 30;
  c.out << "  minimizers W'_Y = W'_coala + U_r (Y - U_r^T W)(I - Pi) (all Z with Z X = 0 that keep rank r);\n"
        << "  identities checked to u d ||W||_F^2 (squared distances) and u d ||W|| ||X|| (objective), threshold " << thr << "\n";
  Table t({"case", "rank X", "rank WX", "quantity", "worst value", "bound", "ok"});
  const int trials = opt.quick ? 4 : 12;
  for (const Problem& p : nearest_cases(opt.quick)) {
    const MatrixMP W = mp(p.W), Xp = mp(p.X).transpose();
    const RefRun co = ref_solve(p, Method::coala), pi = ref_solve(p, Method::pinv);
    c.expect(co.sol.report.ok() && pi.sol.report.ok(), p.name + ": COALA or pinv failed");
    if (!co.sol.report.ok() || !pi.sol.report.ok()) continue;
    const Index rho = co.sol.report.x_rank;
    const ThinSvd<mpreal> sx = mp_svd(Xp), wx = mp_svd(MatrixMP(W * Xp));
    Index k = 0;
    while (k < wx.s.size() && wx.s(k) > wx.s(0) * u * 1e10) ++k;
    c.expect(rho < p.n(), p.name + ": X is not rank deficient (rank " + std::to_string(rho) + ")");
    c.expect(k >= p.r && co.sol.report.unique, p.name + ": needs rank(WX) >= r and s_r > s_r+1");
    const MatrixMP Ux = sx.U.leftCols(rho);
    const MatrixMP Pi = Ux * Ux.transpose();
    const MatrixMP I = MatrixMP::Identity(p.n(), p.n());
    const MatrixMP Ur = co.sol.A;
    const MatrixMP Wc = co.Wp, Wp = pi.Wp;
    const Sensitivity s = sensitivity(p, co.sol.report);
    const double sc_f = u * double(p.dim()) * s.norm_w2 * s.norm_x2;
    const double sc_w2 = u * double(p.dim()) * s.norm_wf * s.norm_wf;
    mpreal tail2(0);
    for (Index i = p.r; i < wx.s.size(); ++i) tail2 += wx.s(i) * wx.s(i);
    const mpreal fstar = sqrt(tail2);
    auto row = [&](const std::string& q, double v, double bound, bool ok) {
      c.expect(ok, p.name + ": " + q);
      t.add({p.name, std::to_string(rho), std::to_string(k), q, sci(v), sci(bound), ok ? "yes" : "NO"});
    };
    const double fc = abs(objective(W, Wc, Xp) - fstar).toDouble() / sc_f;
    const double fp = abs(objective(W, Wp, Xp) - fstar).toDouble() / sc_f;
    row("|f(W'_coala) - f_*| / scale", fc, thr, fc < thr);
    row("|f(W'_pinv) - f_*| / scale", fp, thr, fp < thr);
    // pinv (from the Gram matrix) against the formula U_r U_r^T W Pi (error model of check 2).
    const double dp = (Wp - Ur * (Ur.transpose() * W) * Pi).norm().toDouble() /
                      (u * double(p.dim()) * (s.kappa_g() + s.kappa_c()) * s.norm_wf);
    row("||W'_pinv - U_r U_r^T W Pi|| / (u d (kG + kC) ||W||)", dp, thr, dp < thr);

    Rng g(3300 + p.r);
    double worst_f = 0, worst_id_d = 0, worst_id_n = 0;
    double min_dd = INFINITY, min_dn = INFINITY;
    const MatrixMP UtW = Ur.transpose() * W;
    // The least-norm minimizer by its formula U_r U_r^T W Pi (the driver's pinv, from the Gram
    // matrix, carries u kappa_G; it was compared with the formula above).
    const mpreal dc2 = (W - Wc).squaredNorm(), np2 = (Ur * (UtW * Pi)).squaredNorm();
    for (int tr = 0; tr < trials; ++tr) {
      for (double scale : {1.0, 1e-3, 1e-8}) {
        MatrixMP Y = mp(gaussian(p.r, p.n(), g));
        Y *= mpreal(scale) * W.norm() / Y.norm();
        const MatrixMP B = UtW * Pi + Y * (I - Pi);
        const MatrixMP WY = Ur * B;  // = W'_coala + Z, Z = U_r (Y - U_r^T W)(I - Pi), Z X = 0
        worst_f = std::max(worst_f, abs(objective(W, WY, Xp) - fstar).toDouble() / sc_f);
        const mpreal dd = (W - WY).squaredNorm() - dc2;          // distance excess over COALA
        const mpreal dd_pred = (B - UtW).squaredNorm();           // Pythagoras (README 3)
        const mpreal dn = WY.squaredNorm() - np2;                 // norm excess over pinv
        const mpreal dn_pred = (Y * (I - Pi)).squaredNorm();
        worst_id_d = std::max(worst_id_d, abs(dd - dd_pred).toDouble() / sc_w2);
        worst_id_n = std::max(worst_id_n, abs(dn - dn_pred).toDouble() / sc_w2);
        min_dd = std::min(min_dd, (dd / sc_w2).toDouble());
        min_dn = std::min(min_dn, (dn / sc_w2).toDouble());
      }
    }
    row("max |f(W'_Y) - f_*| / scale (each W'_Y is a minimizer)", worst_f, thr, worst_f < thr);
    row("min (||W - W'_Y||^2 - ||W - W'_coala||^2) / (u d ||W||^2)", min_dd, thr, min_dd > thr);
    row("max |that - ||B_Y - U_r^T W||^2| / (u d ||W||^2)", worst_id_d, thr, worst_id_d < thr);
    row("min (||W'_Y||^2 - ||W'_pinv||^2) / (u d ||W||^2)", min_dn, thr, min_dn > thr);
    row("max |that - ||Y (I - Pi)||^2| / (u d ||W||^2)", worst_id_n, thr, worst_id_n < thr);
    // The two special minimizers differ (W (I - Pi) has a component in range(U_r)), so the two
    // criteria pick different points: COALA is strictly nearer to W, pinv strictly smaller.
    const double gap_d = (((W - Wp).squaredNorm() - dc2) / sc_w2).toDouble();
    const double gap_n = ((Wc.squaredNorm() - np2) / sc_w2).toDouble();
    row("(||W - W'_pinv||^2 - ||W - W'_coala||^2) / (u d ||W||^2)", gap_d, thr, gap_d > thr);
    row("(||W'_coala||^2 - ||W'_pinv||^2) / (u d ||W||^2)", gap_n, thr, gap_n > thr);
  }
  c.table(t, "nearest.csv");
  return c.finish();
}

}  // namespace lowrank::proofs_checks
