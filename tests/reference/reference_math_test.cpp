// The MPFR reference (ReferenceBackend + the one driver) against the mathematics of MATH.md
// section 1, at 256 bits. Sizes stay small (m, n <= 24) so the whole file runs in seconds.
//
// Error model used for every tolerance below (Higham, "Accuracy and Stability of Numerical
// Algorithms", 2nd ed.: Householder QR Thm 19.4, SVD/symmetric eigensolvers backward stable,
// Weyl's and Wedin's perturbation theorems). With u = 2^-256 and
//     gamma = 10 (m + n + N)^2 u        (at most 10 * 60^2 * 8.6e-78 = 3.1e-73 here),
// every computed quantity is the exact one for data perturbed by at most gamma relative:
//   - R: R^T R = X^T X + dG with ||dG||_F <= gamma ||X||_F^2 (X the N x n file matrix);
//   - singular values of W R^T: |ds_i| <= gamma ||W||_F ||X||_F (Weyl);
//   - the top-r left singular subspace: sin(theta) <= gamma ||W||_F ||X||_F / gap, gap = s_r - s_{r+1}
//     (Wedin), so ||dW'||_F = ||dP W||_F <= sin(theta) ||W||_F, P = U_r U_r^T.
// The factor 10 (m + n + N)^2 covers the dimension-dependent constants of these theorems (they
// are at most products of two dimensions times small integers). Each test computes its bound from
// the actual data and checks, where the issue fixes a number (1e-60), that the bound is below it.
#include <gtest/gtest.h>

#include <cmath>

#include "common.hpp"
#include "lowrank/core/driver.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/reference/backend.hpp"

namespace lowrank::test {
namespace {

using MP = mpreal;

class Reference : public ::testing::Test {
 protected:
  void SetUp() override { set_reference_bits(256); }
  ReferenceBackend be;

  Solution<MP> run(const MatrixXd& W, const MatrixXd& X, Index r, Method method = Method::coala,
                   double mu = 0.0, Index block = 7) {
    MatrixRowSource src(X);
    SolveOptions opt;
    opt.method = method;
    opt.rank = r;
    opt.mu = mu;
    opt.block_rows = block;
    return solve(be, to_mp(W), src, opt);
  }
  static MatrixMP wprime(const Solution<MP>& s) { return s.A * s.B; }
  MP norm2(const MatrixMP& M) { return be.svd(M).s(0); }
  static MP fro(const MatrixMP& M) { return M.norm(); }
  static MP u() { return ScalarTraits<MP>::unit_roundoff(); }
  static MP gamma(Index m, Index n, Index N) { return MP(10) * MP(double((m + n + N) * (m + n + N))) * u(); }
};

// ---- Eckart-Young --------------------------------------------------------------------------
// f = ||(W - AB) X^T||_F computed directly from the file matrix (not from R) equals the tail
// sqrt(sum_{i>r} s_i^2) of the singular values of W R^T (W R_mu^T and f^2 + mu ||W - AB||^2 for
// P_mu). Both sides are within gamma ||W||_F ||X_aug||_F of the exact optimum (the first-order
// change of f at the optimum vanishes, so a subspace error enters only squared), hence
//     |f - tail| <= 2 sqrt(n) gamma ||W||_F ||X_aug||_F =: bound,
// and the test also checks bound / tail <= 1e-60, the number.
struct EyCase { Index m, n, N, r; double mu; std::uint64_t seed; };

TEST_F(Reference, EckartYoungObjectiveEqualsTail) {
  const EyCase cases[] = {{8, 12, 30, 4, 0.0, 11},  {12, 8, 20, 3, 0.0, 12}, {10, 12, 5, 2, 0.0, 13},
                          {16, 24, 24, 10, 0.0, 14}, {10, 12, 30, 0, 0.0, 15}, {10, 12, 30, 4, 0.25, 16},
                          {10, 12, 5, 6, 0.0625, 17}};
  for (const auto& c : cases) {
    SCOPED_TRACE("m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " N=" + std::to_string(c.N) +
                 " r=" + std::to_string(c.r) + " mu=" + std::to_string(c.mu));
    const MatrixXd W = gaussian(c.m, c.n, c.seed), X = gaussian(c.N, c.n, c.seed + 100);
    const Solution<MP> s = run(W, X, c.r, Method::coala, c.mu);
    const MatrixMP E = to_mp(W) - wprime(s);
    const MP mu(c.mu);
    const MP f = sqrt((E * to_mp(X).transpose()).squaredNorm() + mu * E.squaredNorm());
    MP tail2(0);
    for (Index i = c.r; i < s.singular_values.size(); ++i) tail2 += s.singular_values(i) * s.singular_values(i);
    const MP tail = sqrt(tail2);
    const MP xaug = sqrt(to_mp(X).squaredNorm() + mu * MP(double(c.n)));
    const MP bound = 2 * sqrt(MP(double(c.n))) * gamma(c.m, c.n, c.N + c.n) * fro(to_mp(W)) * xaug;
    ASSERT_GT(tail, 0);
    EXPECT_LE(bound / tail, MP(1e-60));
    EXPECT_LE(abs(f - tail), bound) << "f = " << f.toString() << "\ntail = " << tail.toString();
    if (c.mu == 0) {
      // The driver's own objective (from R) and the report's decimal string agree too.
      EXPECT_LE(abs(s.objective - tail), bound);
      EXPECT_EQ(s.report.objective, s.objective.toDouble());
      EXPECT_NEAR(s.report.eckart_young_tail, tail.toDouble(), 4 * 0x1p-53 * tail.toDouble());
    }
  }
}

// r = min(m, n): W' = W, the tail is an empty sum (exactly 0) and f is rounding only.
TEST_F(Reference, EckartYoungFullRankIsExact) {
  const MatrixXd W = gaussian(8, 12, 21), X = gaussian(20, 12, 22);
  const Solution<MP> s = run(W, X, 8);
  const MP f = ((to_mp(W) - wprime(s)) * to_mp(X).transpose()).norm();
  EXPECT_EQ(s.report.eckart_young_tail, 0.0);
  EXPECT_LE(f, 2 * sqrt(MP(12)) * gamma(8, 12, 20) * fro(to_mp(W)) * fro(to_mp(X)));
}

// ---- classical baselines agree with COALA on well-conditioned full-rank data -----------------
// The Gram methods square the conditioning: G = X^T X has error gamma ||X||^2, so the top-r
// eigenspace of W G W^T moves by sin(theta) <= gamma ||W||_2^2 ||X||_2^2 / (s_r^2 - s_{r+1}^2),
// and svd-llm's explicit inverse of chol(G) adds gamma kappa(X)^2 ||W||_2 (relative to ||W'||).
//     bound = gamma kappa(X)^2 (||W||_2^2 ||X||_2^2 / (s_r^2 - s_{r+1}^2) + ||W||_2 / ||W'||_F) ||W||_F / ||W'||_F
// checked to be <= 1e-60 (the tolerance) and used as the assertion.
TEST_F(Reference, BaselinesAgreeWithCoalaOnWellConditionedData) {
  struct C { Index m, n, N, r; std::uint64_t seed; };
  for (const C c : {C{10, 12, 40, 4, 31}, C{16, 12, 36, 6, 32}, C{24, 20, 60, 9, 33}}) {
    SCOPED_TRACE("m=" + std::to_string(c.m) + " n=" + std::to_string(c.n) + " r=" + std::to_string(c.r));
    const MatrixXd W = gaussian(c.m, c.n, c.seed), X = gaussian(c.N, c.n, c.seed + 100);
    const Solution<MP> ref = run(W, X, c.r);
    const MatrixMP Wp = wprime(ref);
    const auto& xs = ref.report.x_singular_values;
    const double kappa = xs.front() / xs.back();
    ASSERT_LT(kappa, 10.0);  // well conditioned by construction (Gaussian, N >= 3n)
    const MP s_r = ref.singular_values(c.r - 1), s_r1 = ref.singular_values(c.r);
    const MP w2 = norm2(to_mp(W)), x2(xs.front());
    const MP ratio = fro(to_mp(W)) / fro(Wp);
    const MP bound = gamma(c.m, c.n, c.N) * MP(kappa * kappa) *
                     (w2 * w2 * x2 * x2 / (s_r * s_r - s_r1 * s_r1) + w2 / fro(Wp)) * ratio;
    EXPECT_LE(bound, MP(1e-60));
    for (Method m : {Method::svd_llm, Method::svd_llm_v2, Method::pinv}) {
      const Solution<MP> s = run(W, X, c.r, m);
      ASSERT_TRUE(s.report.ok()) << method_name(m);
      EXPECT_TRUE(s.report.notes.empty()) << method_name(m) << ": a fallback fired on full-rank data";
      EXPECT_LE(fro(wprime(s) - Wp) / fro(Wp), bound) << method_name(m);
    }
  }
}

// ---- blocked R equals one-shot R up to row signs ---------------------------------------------
// Each blocking is backward stable (||dX||_F <= gamma ||X||_F), and R is a smooth function of X
// where the leading min(N, n) columns are independent: ||dR||_F <= sqrt(2) kappa(X_1) ||dX||_F
// + ||dX||_F (Sun's bound; X_1 = leading N x min(N, n) block). Two computations differ by twice
// that: bound = 2 (sqrt(2) kappa(X_1) + 1) gamma ||X||_F. And R^T R = X^T X to gamma ||X||_F^2.
TEST_F(Reference, BlockedREqualsOneShotUpToRowSigns) {
  for (const Index N : {Index(30), Index(5)}) {
    const Index n = 10;
    SCOPED_TRACE("N=" + std::to_string(N));
    const MatrixXd X = gaussian(N, n, 41 + N);
    MatrixRowSource src(X);
    MatrixMP R1 = be.accumulate_r(src, N);
    normalize_row_signs(R1);
    const MatrixMP Xmp = to_mp(X);
    const Index k = std::min(N, n);
    const ThinSvd<MP> s1 = be.svd(MatrixMP(Xmp.leftCols(k)));
    const MP kappa1 = s1.s(0) / s1.s(k - 1);
    const MP g = gamma(0, n, N);
    const MP bound = 2 * (sqrt(MP(2)) * kappa1 + 1) * g * fro(Xmp);
    EXPECT_LE(bound / fro(Xmp), MP(1e-60));
    EXPECT_LE(fro(R1.transpose() * R1 - Xmp.transpose() * Xmp), g * Xmp.squaredNorm());
    for (Index b : {Index(1), Index(3), Index(7), N}) {
      MatrixMP R = be.accumulate_r(src, b);
      ASSERT_EQ(R.rows(), n);
      ASSERT_EQ(R.cols(), n);
      for (Index j = 0; j < n; ++j)
        for (Index i = j + 1; i < n; ++i) ASSERT_EQ(R(i, j), 0) << "R not upper triangular at " << i << "," << j;
      for (Index i = k; i < n; ++i) ASSERT_EQ(R.row(i).norm(), 0) << "padding row " << i << " not zero";
      normalize_row_signs(R);
      EXPECT_LE(fro(R - R1), bound) << "block " << b;
    }
  }
}

// ---- P_mu equals P_0 on the explicitly augmented data ------------------------------------------
// X_aug (file, (N + n) x n) = [X_file; sqrt(mu) I]; sqrt(mu) is a power of two, so X_aug is exact.
// Both are the same exact problem; each is backward stable, so by Wedin
//     ||W'_mu - W'_aug||_F <= 2 gamma ||W||_F ||X_aug||_F / gap * ||W||_F
// and the singular values agree to 2 gamma ||W||_F ||X_aug||_F (Weyl).
TEST_F(Reference, PmuEqualsCoalaOnAugmentedData) {
  ScratchDir dir;
  struct C { Index m, n, N, r; double mu; std::uint64_t seed; };
  for (const C c : {C{10, 12, 20, 4, 0.25, 51}, C{10, 12, 5, 7, 0x1p-10, 52}, C{14, 9, 30, 5, 4.0, 53}}) {
    SCOPED_TRACE("N=" + std::to_string(c.N) + " mu=" + std::to_string(c.mu));
    const MatrixXd W = gaussian(c.m, c.n, c.seed), X = gaussian(c.N, c.n, c.seed + 100);
    MatrixXd Xaug(c.N + c.n, c.n);
    Xaug << X, std::sqrt(c.mu) * MatrixXd::Identity(c.n, c.n);
    write_npy(dir.file("X.npy"), X);
    write_npy(dir.file("Xaug.npy"), Xaug);
    SolveOptions opt;
    opt.rank = c.r;
    opt.block_rows = 7;
    opt.mu = c.mu;
    NpyRowStream xs(dir.file("X.npy")), xa(dir.file("Xaug.npy"));
    const Solution<MP> smu = solve(be, to_mp(W), xs, opt);
    opt.mu = 0;
    const Solution<MP> saug = solve(be, to_mp(W), xa, opt);
    const MP e = 2 * gamma(c.m, c.n, c.N + c.n) * fro(to_mp(W)) * fro(to_mp(Xaug));
    const MP gap = smu.singular_values(c.r - 1) - smu.singular_values(c.r);
    const MP bound = e / gap * fro(to_mp(W)) / fro(wprime(saug));
    EXPECT_LE(bound, MP(1e-60));
    EXPECT_LE(fro(wprime(smu) - wprime(saug)) / fro(wprime(saug)), bound);
    ASSERT_EQ(smu.singular_values.size(), saug.singular_values.size());
    EXPECT_LE((smu.singular_values - saug.singular_values).cwiseAbs().maxCoeff(), e);
    // The regularized objective of P_mu is the plain objective of the augmented problem.
    EXPECT_NEAR(smu.report.objective_mu, saug.report.objective, 4 * 0x1p-53 * saug.report.objective);
  }
}

// ---- the direct mu -> 0 limit against COALA at mu = 1e-30 -----------------------------------------
// Exactly rank-deficient data from small integers: X_file = C D (N x k times k x n), W integer;
// every entry is an exact integer in binary, so rank(X) = k exactly.
//
// k = rank(WX) >= r: MATH.md 1.2 (Davis-Kahan on W X X^T W^T + mu W W^T):
//     ||W'_mu - W'_*||_F <= mu ||W||_2^2 ||W||_F / (delta - mu ||W||_2^2),  delta = s_r^2 - s_{r+1}^2.
// k < r (derived here to first order; MATH.md calls it "to derive"): in the basis [U_k, U_perp],
// M(mu) = [[L + mu A, mu B], [mu B^T, mu C]] with L = diag(s_i(WX)^2), ||A||,||B||,||C|| <= ||W||_2^2.
// (a) the top-k eigenvectors tilt into U_perp by <= mu ||B|| / s_k^2; (b) the eigenvectors with
// O(mu) eigenvalues tilt into U_k by the same amount; (c) inside U_perp they are eigenvectors of
// C - mu B^T L^-1 B, a perturbation of C by <= mu ||W||_2^4 / s_k^2, which moves the top-(r-k)
// eigenspace of C (gap g2 = sigma_{r-k}(P W)^2 - sigma_{r-k+1}(P W)^2, P = I - U_k U_k^T) by
// <= mu ||W||_2^4 / (s_k^2 g2) (Davis-Kahan). Adding (a)-(c):
//     ||W'_mu - W'_*||_F <= mu ||W||_2^2 ||W||_F / s_k^2 * (2 + ||W||_2^2 / g2) + O(mu^2).
// At mu = 1e-30 the O(mu^2) term is below 1e-25 of the first-order one (all the gaps here are
// O(1)), and rounding (gamma ~ 1e-72) is negligible: the test adds 1e-3 of the bound for both.
// Linearity is checked too: d(2 mu) / d(mu) = 2 up to O(mu) relative, which only a limit that is
// exactly right (to far below mu) can pass.
struct LimitCase { const char* name; Index m, n, N, xrank, r; std::uint64_t seed; };

TEST_F(Reference, LimitAgreesWithCoalaAtTinyMu) {
  const LimitCase cases[] = {{"rank-deficient X, rank(WX) >= r", 10, 12, 20, 6, 4, 61},
                             {"rank-deficient X, rank(WX) < r", 10, 12, 20, 3, 5, 62},
                             {"N < r", 10, 12, 3, 3, 5, 63}};
  const double mu = 1e-30;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    const MatrixXd W = small_ints(c.m, c.n, c.seed);
    const MatrixXd X = c.xrank < c.N ? MatrixXd(small_ints(c.N, c.xrank, c.seed + 1, 2) * small_ints(c.xrank, c.n, c.seed + 2, 2))
                                     : small_ints(c.N, c.n, c.seed + 1, 2);
    const Solution<MP> lim = run(W, X, c.r, Method::limit);
    const Solution<MP> co = run(W, X, c.r, Method::coala, mu);
    const Solution<MP> co2 = run(W, X, c.r, Method::coala, 2 * mu);
    const Index k = std::min(c.xrank, c.N);
    ASSERT_EQ(lim.report.x_rank, k);
    ASSERT_EQ(lim.report.wx_rank, k);  // W has full row rank here, so rank(WX) = rank(X)
    const MatrixMP Wm = to_mp(W), Ws = wprime(lim);
    const MP w2 = norm2(Wm), wf = fro(Wm), M(mu);
    MP bound;
    if (k >= c.r) {
      const MP sr = lim.singular_values(c.r - 1), sr1 = lim.singular_values(c.r);
      const MP delta = sr * sr - sr1 * sr1;
      ASSERT_GT(delta, M * w2 * w2);
      bound = M * w2 * w2 * wf / (delta - M * w2 * w2);
    } else {
      const MP sk = lim.singular_values(k - 1);
      const ThinSvd<MP> wx = be.svd(MatrixMP(Wm * to_mp(X).transpose()));
      const MatrixMP Uk = wx.U.leftCols(k);
      const ThinSvd<MP> pw = be.svd(MatrixMP(Wm - Uk * (Uk.transpose() * Wm)));
      const Index j = c.r - k;
      const MP g2 = pw.s(j - 1) * pw.s(j - 1) - pw.s(j) * pw.s(j);
      ASSERT_GT(g2, 0);
      bound = M * w2 * w2 * wf / (sk * sk) * (2 + w2 * w2 / g2);
      // The limit's defining properties: W'_* X = W X (to rounding) and W'_* nearest to W.
      EXPECT_LE(fro((Wm - Ws) * to_mp(X).transpose()), gamma(c.m, c.n, c.N) * wf * fro(to_mp(X)) * 10);
    }
    bound *= MP(1.001);
    const MP d1 = fro(wprime(co) - Ws), d2 = fro(wprime(co2) - Ws);
    EXPECT_LE(bound / fro(Ws), MP(1e-27)) << "the bound itself must be O(mu)";
    EXPECT_LE(d1, bound) << "||W'_mu - W'_*||_F = " << d1.toString(8) << ", bound " << bound.toString(8);
    EXPECT_GT(d1, 0);
    // O(mu) with no O(1) part: d(2mu)/d(mu) = 2 + O(mu * ||W||^2 / gap^2); 1e-20 is loose.
    EXPECT_LE(abs(d2 / d1 - 2), MP(1e-20)) << "d(2mu)/d(mu) = " << (d2 / d1).toString(25);
    RecordProperty(std::string("tightness_") + std::to_string(c.seed), (d1 / bound).toString(4));
  }
}

// ---- 256 bits against 512 bits ------------------------------------------------------------------
// The 512-bit result is exact to the 256-bit scale, so the difference is the 256-bit error:
//     singular values: |ds_i| <= gamma_256 ||W||_F ||X||_F (Weyl);
//     W': ||dW'||_F / ||W'||_F <= gamma_256 ||W||_F ||X||_F / gap * ||W||_F / ||W'||_F (Wedin),
// i.e. u_256 * kappa / gap in the words. Two cases: Gaussian, and X = U diag(s) V^T with
// geometric s from 1 to 1e-20 (as stored in double), where the bound is checked to stay useful.
TEST_F(Reference, Bits256AgreeWith512ToThe256BitBound) {
  struct C { const char* name; Index m, n, N, r; bool illcond; std::uint64_t seed; };
  for (const C c : {C{"gaussian", 12, 16, 24, 5, false, 71}, C{"kappa 1e20", 12, 16, 24, 2, true, 72}}) {
    SCOPED_TRACE(c.name);
    const MatrixXd W = gaussian(c.m, c.n, c.seed);
    MatrixXd X = gaussian(c.N, c.n, c.seed + 100);
    if (c.illcond) {
      Eigen::HouseholderQR<MatrixXd> q1(gaussian(c.N, c.n, c.seed + 200)), q2(gaussian(c.n, c.n, c.seed + 300));
      VectorXd sv(c.n);
      for (Index i = 0; i < c.n; ++i) sv(i) = std::pow(1e-20, double(i) / double(c.n - 1));
      X = q1.householderQ() * MatrixXd::Identity(c.N, c.n) * sv.asDiagonal() *
          MatrixXd(q2.householderQ()).transpose();
    }
    set_reference_bits(256);
    const Solution<MP> a = run(W, X, c.r);
    const MatrixMP wa = wprime(a);
    const VectorMP sa = a.singular_values;
    set_reference_bits(512);
    const Solution<MP> b = run(W, X, c.r);
    const MatrixMP wb = wprime(b);
    // Bring the 256-bit numbers to 512 bits exactly (set_prec rounds; widening is exact).
    MatrixMP wa512 = wa;
    for (Index i = 0; i < wa512.size(); ++i) wa512(i).set_prec(512);
    VectorMP sa512 = sa;
    for (Index i = 0; i < sa512.size(); ++i) sa512(i).set_prec(512);
    const MP u256 = mpfr::ldexp(MP(1), -256);
    const MP g = MP(10) * MP(double((c.m + c.n + c.N) * (c.m + c.n + c.N))) * u256;
    const MP wf = fro(to_mp(W)), xf = fro(to_mp(X));
    const MP ds = (sa512 - b.singular_values).cwiseAbs().maxCoeff();
    EXPECT_LE(ds, g * wf * xf);
    const MP gap = b.singular_values(c.r - 1) - b.singular_values(c.r);
    const MP bound = g * wf * xf / gap * wf / fro(wb);
    EXPECT_LE(bound, MP(1e-60));
    const MP err = fro(wa512 - wb) / fro(wb);
    EXPECT_LE(err, bound);
  }
  set_reference_bits(256);
}

// ---- refusals by the driver ---------------------------------------------------------------------

TEST_F(Reference, DriverRefusesBadProblems) {
  const MatrixXd W = gaussian(6, 5, 81), X = gaussian(9, 5, 82);
  expect_error([&] { run(W, X, 6); }, {"rank 6 out of range", "min(m, n) = 5"});
  expect_error([&] { run(W, X, -1); }, {"rank -1 out of range"});
  expect_error([&] { run(W, X, 2, Method::coala, -1e-3); }, {"mu must be", ">= 0"});
  expect_error([&] { run(W, X, 2, Method::coala, std::nan("")); }, {"mu must be"});
  expect_error([&] { run(W, X, 2, Method::coala, 0.0, 0); }, {"block must be at least 1"});
  expect_error([&] { run(W, X, 2, Method::limit, 0.5); }, {"limit", "no --mu"});
  expect_error([&] { run(W, gaussian(9, 4, 83), 2); }, {"shape mismatch", "6 x 5", "9 x 4", "N x 5"});
  expect_error([&] { run(MatrixXd(0, 5), X, 0); }, {"W is empty", "0 x 5"});
  expect_error([&] { run(MatrixXd(6, 0), MatrixXd(9, 0), 0); }, {"W is empty", "6 x 0"});
  expect_error([&] { run(W, MatrixXd(0, 5), 2); }, {"no tokens", "0 x 5"});
  expect_error([&] { parse_method("svd"); }, {"unknown method 'svd'"});
  expect_error([&] { set_reference_bits(32); }, {"--bits", "32"});
}

// The precision as a value: a backend made with its bits computes at them (its report says so),
// and the caller's precision is back when it ends, also when the scope ends by an exception;
// scopes nest; out-of-range bits are refused before anything changes.
TEST_F(Reference, PrecisionIsAValueWithALifetime) {
  ASSERT_EQ(reference_bits(), 256);  // the fixture's
  const MatrixXd W = gaussian(6, 5, 91), X = gaussian(9, 5, 92);
  {
    ReferenceBackend be(512);
    EXPECT_EQ(reference_bits(), 512);
    MatrixRowSource src(X, 0x1p-53, "X");
    SolveOptions o;
    o.rank = 2;
    const Solution<MP> s = solve(be, to_mp(W), src, o);
    EXPECT_EQ(s.report.precision, "mpfr512");
    EXPECT_EQ(s.A(0, 0).get_prec(), 512);
    {
      const ReferencePrecision inner(128);
      EXPECT_EQ(reference_bits(), 128);
      EXPECT_EQ(ReferenceBackend().precision(), "mpfr128");  // made at the current precision
    }
    EXPECT_EQ(reference_bits(), 512);
  }
  EXPECT_EQ(reference_bits(), 256);
  try {
    const ReferencePrecision p(1024);
    throw Error("leaving the scope early");
  } catch (const Error&) {
  }
  EXPECT_EQ(reference_bits(), 256);
  expect_error([&] { ReferenceBackend be(32); }, {"--bits", "32"});
  EXPECT_EQ(reference_bits(), 256);
}

// Inf deep inside a streamed X block: the solve stops with the file, row and column.
TEST_F(Reference, DriverRefusesNonFiniteDeepInStreamedX) {
  ScratchDir dir;
  MatrixXd X = gaussian(60, 5, 84);
  X(49, 2) = std::numeric_limits<double>::infinity();
  // core's writer refuses non-finite values, so the file is written by hand.
  write_matrix_raw(dir.file("X.npy"), X);
  NpyRowStream xs(dir.file("X.npy"));
  SolveOptions opt;
  opt.rank = 2;
  opt.block_rows = 8;
  expect_error([&] { solve(be, to_mp(gaussian(6, 5, 85)), xs, opt); }, {dir.file("X.npy"), "(49, 2)", "Inf"});
}

}  // namespace
}  // namespace lowrank::test
