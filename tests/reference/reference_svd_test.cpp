// The reference SVD (golub_kahan_svd, reference/src/svd.cpp) at 256 bits against LAPACK TESTING's
// ratios (dchkbd / dchkgg style, threshold 30):
//   residual   ||M - U S V^T||_F / (||M||_F max(m, n) u)
//   orthogonality ||I - U^T U||_F / (m u), ||I - V^T V||_F / (n u)
//   values     |s_i - s_i'| / (||M||_2 n u), s' from Eigen's one-sided JacobiSVD<mpreal> at the
//              same precision (backward stable too, so both are within n u ||M||_2 of the truth).
// u = 2^-256. Backward stability of Golub-Kahan-Reinsch gives each ratio O(1) (Golub & Van Loan
// 8.6.3); 30 is LAPACK's threshold for "a constant times the dimension".
#include <gtest/gtest.h>

#include <Eigen/SVD>

#include "common.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/reference/backend.hpp"
#include "lowrank/reference/svd.hpp"

namespace lowrank::test {
namespace {

constexpr double kThreshold = 30.0;

class ReferenceSvd : public ::testing::Test {
 protected:
  ReferencePrecision precision{256};
  static mpreal u() { return ScalarTraits<mpreal>::unit_roundoff(); }

  // The four ratios, each <= kThreshold; s descending and nonnegative.
  void check(const MatrixMP& M, const std::string& what) {
    const Index m = M.rows(), n = M.cols(), k = std::min(m, n);
    const ThinSvd<mpreal> s = golub_kahan_svd(M);
    ASSERT_EQ(s.U.rows(), m) << what;
    ASSERT_EQ(s.U.cols(), k) << what;
    ASSERT_EQ(s.V.rows(), n) << what;
    ASSERT_EQ(s.V.cols(), k) << what;
    ASSERT_EQ(s.s.size(), k) << what;
    for (Index i = 0; i < k; ++i) {
      EXPECT_GE(s.s(i), 0) << what << ": s_" << i;
      if (i > 0) {
        EXPECT_LE(s.s(i), s.s(i - 1)) << what << ": not descending at " << i;
      }
    }
    const mpreal mnorm = M.norm(), big = mpreal(double(std::max(m, n)));
    const mpreal resid = (M - s.U * s.s.asDiagonal() * s.V.transpose()).norm();
    const mpreal scale = mnorm > 0 ? mnorm : mpreal(1);
    EXPECT_LE((resid / (scale * big * u())).toDouble(), kThreshold) << what << ": residual";
    EXPECT_LE(((MatrixMP::Identity(k, k) - s.U.transpose() * s.U).norm() / (mpreal(double(m)) * u())).toDouble(),
              kThreshold)
        << what << ": U";
    EXPECT_LE(((MatrixMP::Identity(k, k) - s.V.transpose() * s.V).norm() / (mpreal(double(n)) * u())).toDouble(),
              kThreshold)
        << what << ": V";
    const Eigen::JacobiSVD<MatrixMP> j(M);
    const mpreal n2 = j.singularValues().size() ? j.singularValues()(0) : mpreal(0);
    for (Index i = 0; i < k; ++i)
      EXPECT_LE((mpfr::abs(s.s(i) - j.singularValues()(i)) / ((n2 > 0 ? n2 : mpreal(1)) * mpreal(double(k)) * u()))
                    .toDouble(),
                kThreshold)
          << what << ": s_" << i;
  }
};

TEST_F(ReferenceSvd, GaussianTallWideSquare) {
  SplitMixRng rng(5);
  check(to_mp(gaussian(40, 25, rng)), "40 x 25");
  check(to_mp(gaussian(25, 40, rng)), "25 x 40");
  check(to_mp(gaussian(30, 30, rng)), "30 x 30");
  check(to_mp(gaussian(17, 1, rng)), "17 x 1");
  check(to_mp(gaussian(1, 9, rng)), "1 x 9");
  check(to_mp(gaussian(1, 1, rng)), "1 x 1");
  check(to_mp(gaussian(2, 2, rng)), "2 x 2");
}

TEST_F(ReferenceSvd, GradedToKappa1e60AndRankDeficient) {
  SplitMixRng rng(6);
  // kappa = 1e60: relative accuracy is not promised, absolute (n u ||M||_2) is, and is checked.
  check(to_mp(latms(36, 24, geometric(24, 1e60), rng)), "kappa 1e60");
  // Rank 5 of 20 (15 exact zero singular values up to the generator's rounding).
  VectorXd sv = VectorXd::Zero(20);
  sv.head(5) << 5, 4, 3, 2, 1;
  check(to_mp(latms(30, 20, sv, rng)), "rank 5");
  // Exact zeros: a zero matrix, and zero columns (zero diagonals of B: the chasing branches).
  check(MatrixMP::Zero(6, 4), "zero 6 x 4");
  MatrixMP Z = to_mp(gaussian(12, 8, rng));
  Z.col(0).setZero();
  Z.col(5).setZero();
  Z.col(7).setZero();
  check(Z, "zero columns 0, 5, 7");
}

TEST_F(ReferenceSvd, ExactlyRepeatedValues) {
  // Eigen's BDCSVD<mpreal> got these wrong (corpus case tie_at_cut_r4, residual 2.1 of 22).
  SplitMixRng rng(7);
  VectorXd sv(16);
  sv << 9, 7, 7, 7, 7, 5, 5, 3, 3, 3, 3, 3, 1, 1, 1, 1;
  check(to_mp(latms(16, 16, sv, rng)), "ties 16 x 16");
  check(MatrixMP::Identity(7, 5), "identity 7 x 5");
  MatrixMP D = MatrixMP::Zero(6, 6);
  D.diagonal() << 2, -3, 2, 0, -3, 1;  // signs and ties, already diagonal
  check(D, "signed diagonal");
}

TEST_F(ReferenceSvd, BidiagonalWithZeroDiagonalsInsideAndAtTheEnd) {
  // Upper bidiagonal input: the reduction is the identity, so the zero diagonals reach the QR
  // iteration as they are (row chase inside the block, column chase at its end).
  MatrixMP B = MatrixMP::Zero(6, 6);
  B.diagonal() << 1, 0, 2, 3, 0, 0;
  for (Index i = 0; i < 5; ++i) B(i, i + 1) = mpreal(double(i + 1)) / 3;
  check(B, "bidiagonal with zeros");
  MatrixMP L = MatrixMP::Zero(5, 5);
  L.diagonal() << 0, 1, 1, 1, 0;
  for (Index i = 0; i < 4; ++i) L(i, i + 1) = 1;
  check(L, "bidiagonal, zero first and last");
}

TEST_F(ReferenceSvd, RefusesNonFiniteInput) {
  MatrixMP M = MatrixMP::Ones(3, 3);
  M(1, 2) = mpfr::const_infinity();
  EXPECT_THROW(golub_kahan_svd(M), Error);
  M(1, 2) = mpreal().setNan();
  EXPECT_THROW(golub_kahan_svd(M), Error);
}

}  // namespace
}  // namespace lowrank::test
