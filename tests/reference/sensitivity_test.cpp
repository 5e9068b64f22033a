// The structured forward condition number of ratio version 2 (core/sensitivity.hpp): its
// derivative against central finite differences of the 256-bit reference map (W, X) -> W'_*, its
// adjoint against the dot-product identity, and its norm against the explicit Jacobian.
#include <gtest/gtest.h>

#include <Eigen/SVD>
#include <random>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/core/sensitivity.hpp"
#include "lowrank/reference/backend.hpp"

using namespace lowrank;
using LMat = ForwardSensitivity::LMat;

namespace {

MatrixXd gaussian(Index rows, Index cols, unsigned seed) {  // core/random.hpp's generator, seeded
  SplitMixRng rng(seed);
  return lowrank::gaussian(rows, cols, rng);
}
LMat lgaussian(Index rows, Index cols, unsigned seed) { return gaussian(rows, cols, seed).cast<long double>(); }

// W'_* at 256 bits.
MatrixMP wstar(const MatrixMP& W, const MatrixMP& Xf, double mu, Index r) {
  // X + h dX is not representable in double (what a RowBlockSource delivers), so COALA is
  // followed by hand on the MPFR backend: qr_R, R_mu, SVD of W R_mu^T, U_r U_r^T W.
  ReferenceBackend be;
  const Index n = W.cols();
  MatrixMP R = be.stack_r(MatrixMP(0, n), Xf);
  if (mu > 0) R = be.stack_r(R, MatrixMP(mpfr::sqrt(mpreal(mu)) * MatrixMP::Identity(n, n)));
  const ThinSvd<mpreal> s = be.svd(MatrixMP(W * R.transpose()));
  const MatrixMP Ur = s.U.leftCols(r);
  return Ur * (Ur.transpose() * W);
}

struct Instance {
  Index m = 10, n = 6, N = 15, r = 3;
  double mu = 0;
  MatrixXd W, X;
};

}  // namespace

class Sensitivity : public ::testing::TestWithParam<double> {};

// dW'_* / dh at h = 0 for W + h ||W||_F E_W, X + h dX with dX (file orientation, N x n) =
// X R^{-1} H^T D (so that E Q_1 = H C in the paper's orientation: X^T = Q_1 R_mu, C = R R_mu^{-1}):
// central differences at h = 1e-25 in 256-bit arithmetic have truncation error O(h^2) and rounding
// error 2^-256 / h, both below 1e-45; the long double derivative carries u_ld (2^-64) times the
// subspace sensitivity s_1 / gap (< 1e3 here, asserted) times small dimension factors, so 1e-12
// relative is met with room and fails for any wrong term (they are O(1)).
TEST_P(Sensitivity, DerivativeMatchesFiniteDifferences) {
  set_reference_bits(256);
  Instance in;
  in.mu = GetParam();
  in.W = gaussian(in.m, in.n, 1);
  in.X = gaussian(in.N, in.n, 2);
  in.X.col(2) *= 50;  // an outlier feature: D is not a multiple of I
  MatrixRowSource src(in.X, 0x1p-53);
  const ForwardSensitivity fs(in.W, src, in.mu, in.r);

  const MatrixMP Wm = to_mp(in.W), Xm = to_mp(in.X);
  {
    ReferenceBackend be;
    MatrixMP R = be.stack_r(MatrixMP(0, in.n), Xm);
    if (in.mu > 0) R = be.stack_r(R, MatrixMP(mpfr::sqrt(mpreal(in.mu)) * MatrixMP::Identity(in.n, in.n)));
    const ThinSvd<mpreal> s = be.svd(MatrixMP(Wm * R.transpose()));
    const double ratio = s.s(0).toDouble() / (s.s(in.r - 1) - s.s(in.r)).toDouble();
    ASSERT_LT(ratio, 1e3);
  }
  const LMat EW = lgaussian(in.m, in.n, 3), H = lgaussian(in.n, in.n, 4);
  const LMat EM = LMat::Zero(in.m, in.n);
  const LMat J = fs.apply(EW, H, EM);

  // The direction in MPFR.
  MatrixMP Rinv(in.n, in.n);
  {
    const MatrixMP Rm = fs.R().cast<mpreal>();
    Rinv = Rm.triangularView<Eigen::Upper>().solve(MatrixMP::Identity(in.n, in.n));
  }
  const MatrixMP D = fs.feature_norms().cast<mpreal>().asDiagonal();
  const MatrixMP dX = Xm * Rinv * H.cast<mpreal>().transpose() * D;
  const MatrixMP dW = mpreal(in.W.cast<long double>().norm()) * EW.cast<mpreal>();
  const mpreal h("1e-25");
  const MatrixMP fd = (wstar(Wm + h * dW, Xm + h * dX, in.mu, in.r) - wstar(Wm - h * dW, Xm - h * dX, in.mu, in.r)) / (2 * h);
  const double rel = (fd - J.cast<mpreal>()).norm().toDouble() / fd.norm().toDouble();
  EXPECT_LT(rel, 1e-12) << "mu = " << in.mu;
  EXPECT_GT(fd.norm().toDouble(), 1e-3);  // a real derivative, not 0 = 0
}

// The SVD's own backward error dM = s_1 E_M: finite differences of U_r(M + h dM) U_r^T W.
TEST_P(Sensitivity, SvdPerturbationMatchesFiniteDifferences) {
  set_reference_bits(256);
  Instance in;
  in.mu = GetParam();
  in.W = gaussian(in.m, in.n, 5);
  in.X = gaussian(in.N, in.n, 6);
  MatrixRowSource src(in.X, 0x1p-53);
  const ForwardSensitivity fs(in.W, src, in.mu, in.r);
  const LMat EM = lgaussian(in.m, in.n, 7);
  const LMat J = fs.apply(LMat::Zero(in.m, in.n), LMat::Zero(in.n, in.n), EM);
  // M_red = W R_mu^T with the sensitivity's own R_mu (the derivative is taken in that basis).
  const MatrixMP Wm = to_mp(in.W);
  const MatrixMP M = Wm * fs.Rmu().cast<mpreal>().transpose();
  ReferenceBackend be;
  const mpreal s1 = be.svd(M).s(0);
  auto proj = [&](const MatrixMP& Mp) {
    const ThinSvd<mpreal> s = be.svd(Mp);
    const MatrixMP Ur = s.U.leftCols(in.r);
    return MatrixMP(Ur * (Ur.transpose() * Wm));
  };
  const mpreal h("1e-25");
  const MatrixMP dM = s1 * EM.cast<mpreal>();
  const MatrixMP fd = (proj(M + h * dM) - proj(M - h * dM)) / (2 * h);
  // The long double R_mu differs from the exact one by u_ld; the map is evaluated at that R_mu in
  // both, so the same 1e-12 applies.
  EXPECT_LT((fd - J.cast<mpreal>()).norm().toDouble() / fd.norm().toDouble(), 1e-12);
}

// <J z, Y> = <z, J^T Y> for random z, Y: exact in real arithmetic; in long double both sides are
// sums of O(m n^2) products of numbers of size <= ||J|| ||z|| ||Y||, so the difference is below
// m n^2 u_ld ||J|| ||z|| ||Y|| < 1e-14 relative to ||J|| ||z|| ||Y||.
TEST_P(Sensitivity, AdjointIsTheTranspose) {
  Instance in;
  in.mu = GetParam();
  in.W = gaussian(in.m, in.n, 8);
  in.X = gaussian(in.N, in.n, 9);
  MatrixRowSource src(in.X, 0x1p-53);
  const ForwardSensitivity fs(in.W, src, in.mu, in.r);
  const LMat EW = lgaussian(in.m, in.n, 10), H = lgaussian(in.n, in.n, 11), EM = lgaussian(in.m, in.n, 12);
  const LMat Y = lgaussian(in.m, in.n, 13);
  LMat aW, aH, aM;
  fs.adjoint(Y, aW, aH, aM);
  const long double lhs = (fs.apply(EW, H, EM).array() * Y.array()).sum();
  const long double rhs = (EW.array() * aW.array()).sum() + (H.array() * aH.array()).sum() + (EM.array() * aM.array()).sum();
  const long double scale = fs.norm() * std::sqrt(EW.squaredNorm() + H.squaredNorm() + EM.squaredNorm()) * Y.norm();
  EXPECT_LT(std::fabs(double(lhs - rhs)), 1e-14 * double(scale));
}

// The power-iteration norm against the largest singular value of the explicit Jacobian (its
// m n + n^2 + m n columns are J applied to unit vectors): power iteration stops when the estimate
// moves by < 1e-8 relative, so it is within 1e-4 of ||J|| unless sigma_2 / sigma_1 > 0.9999.
TEST_P(Sensitivity, NormIsTheLargestSingularValueOfTheJacobian) {
  Instance in;
  in.mu = GetParam();
  in.W = gaussian(in.m, in.n, 14);
  in.X = gaussian(in.N, in.n, 15);
  MatrixRowSource src(in.X, 0x1p-53);
  const ForwardSensitivity fs(in.W, src, in.mu, in.r);
  const Index mn = in.m * in.n, nn = in.n * in.n, cols = 2 * mn + nn;
  MatrixXd Jmat(mn, cols);
  for (Index k = 0; k < cols; ++k) {
    LMat EW = LMat::Zero(in.m, in.n), H = LMat::Zero(in.n, in.n), EM = LMat::Zero(in.m, in.n);
    if (k < mn) EW.data()[k] = 1;
    else if (k < mn + nn) H.data()[k - mn] = 1;
    else EM.data()[k - mn - nn] = 1;
    const LMat y = fs.apply(EW, H, EM);
    for (Index i = 0; i < mn; ++i) Jmat(i, k) = double(y.data()[i]);
  }
  const Eigen::VectorXd sv = Eigen::JacobiSVD<MatrixXd>(Jmat).singularValues();
  ASSERT_LT(sv(1) / sv(0), 0.9999);
  EXPECT_NEAR(fs.norm() / sv(0), 1.0, 1e-4);
  EXPECT_NEAR(fs.kappa(), sv(0) / double(fs.W_star().norm()), 1e-4 * sv(0) / double(fs.W_star().norm()));
}

INSTANTIATE_TEST_SUITE_P(Mu, Sensitivity, ::testing::Values(0.0, 0.3));
