// CpuBackend::singular_values's two kernels (SvdValuesKernel): the two-stage reduction (band form
// in level-3 BLAS, ?gbbrd, ?bdsqr; fast/cpu/src/two_stage_values.hpp) against ?gesdd (jobz = N) and
// against Eigen's one-sided Jacobi SVD in double, over shapes that cross the bandwidth, the panel
// boundaries and both orientations, graded and rank-deficient spectra, exact ties and zeros.
//
// Bound: each kernel applies orthogonal transformations only, so its values are the exact values of
// A + dA with ||dA||_2 <= ||dA||_F <= c max(m, n) u ||A||_F, and by Weyl each value moves by at most
// that. The ratio max_i |s_i - s_i^ref| / (max(m, n) u ||A||_F) must stay under LAPACK's threshold
// of 30 (its SVD tests' convention; measured <= 1.7). A wrong reflector or a lost band entry gives
// O(1 / u): applying the LQ step's Q transposed fails 33 of the 60 checks, dropping its write-back
// of L 37 (checked by hand; the shapes that still pass are those with n <= b).
#include <gtest/gtest.h>

#include <Eigen/SVD>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "lowrank/core/error.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace lowrank {
namespace {

constexpr double kThreshold = 30;

template <class T> Vec<T> values(const Mat<T>& A, SvdValuesKernel kernel, Index band, std::string* used = nullptr) {
  CpuOptions o;
  o.values_kernel = kernel;
  o.values_band = band;
  CpuBackend<T> be(o);
  Vec<T> s = be.singular_values(A);
  if (used) *used = be.stats().kernels.count("svd-values-2stage") ? "two-stage" : "gesdd";
  return s;
}

// max_i |a_i - b_i| / (max(m, n) u ||A||_F); the sizes must agree.
template <class T> double ratio(const Vec<T>& a, const VectorXd& b, const MatrixXd& A) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0;
  for (Index i = 0; i < std::min<Index>(a.size(), b.size()); ++i)
    worst = std::max(worst, std::abs(double(a(i)) - b(i)));
  const double u = std::numeric_limits<T>::epsilon() / 2;
  const double scale = double(std::max(A.rows(), A.cols())) * u * A.norm();
  return scale > 0 ? worst / scale : (worst == 0 ? 0.0 : INFINITY);
}

struct Case {
  const char* what;
  MatrixXd A;
  Index band;
};

std::vector<Case> cases() {
  SplitMixRng rng(11);
  std::vector<Case> c;
  c.push_back({"1 x 1", MatrixXd::Constant(1, 1, -3.0), 4});
  c.push_back({"1 x 7 row", gaussian(1, 7, rng), 2});
  c.push_back({"9 x 1 column", gaussian(9, 1, rng), 2});
  c.push_back({"5 x 5, band 2", gaussian(5, 5, rng), 2});
  c.push_back({"40 x 40, band 7 (not dividing n)", gaussian(40, 40, rng), 7});
  c.push_back({"50 x 30 tall, band 8", gaussian(50, 30, rng), 8});
  c.push_back({"30 x 50 wide, band 8", gaussian(30, 50, rng), 8});
  c.push_back({"12 x 12, band 40 (wider than n)", gaussian(12, 12, rng), 40});
  c.push_back({"200 x 200, band 16, kappa 1e12", latms(200, 200, geometric(200, 1e12), rng), 16});
  c.push_back({"150 x 120, band 32, kappa 1e6", latms(150, 120, geometric(120, 1e6), rng), 32});
  {
    // The R of a tall Gaussian with graded columns: what x_rank_step hands it (upper triangular).
    MatrixXd X = gaussian(300, 100, rng);
    for (Index j = 0; j < 100; ++j) X.col(j) *= std::pow(10.0, -10.0 * double(j) / 99);
    const MatrixXd R = Eigen::HouseholderQR<MatrixXd>(X).matrixQR().topRows(100).triangularView<Eigen::Upper>();
    c.push_back({"100 x 100 triangular R of graded columns, band 8", R, 8});
  }
  {
    VectorXd s = VectorXd::Zero(40);
    s.head(5) = geometric(5, 10);
    c.push_back({"40 x 40 of rank 5, band 6", latms(40, 40, s.head(5), rng), 6});
  }
  c.push_back({"30 x 30 orthogonal (30 exact ties), band 4", haar(30, 30, rng), 4});
  c.push_back({"20 x 20 zero, band 4", MatrixXd::Zero(20, 20), 4});
  {
    MatrixXd Z = gaussian(24, 24, rng);
    Z.col(3).setZero();
    Z.row(17).setZero();
    c.push_back({"24 x 24 with a zero row and column, band 5", Z, 5});
  }
  return c;
}

template <class T> void check_all() {
  double worst_jacobi = 0, worst_gesdd = 0;
  for (const Case& c : cases()) {
    const Mat<T> A = c.A.template cast<T>();
    const MatrixXd Ad = A.template cast<double>();  // what the kernels really see
    const VectorXd ref = Eigen::JacobiSVD<MatrixXd>(Ad).singularValues();
    const Vec<T> two = values<T>(A, SvdValuesKernel::two_stage, c.band);
    const Vec<T> one = values<T>(A, SvdValuesKernel::gesdd, 0);
    for (Index i = 0; i + 1 < two.size(); ++i) EXPECT_GE(two(i), two(i + 1)) << c.what << ": not descending";
    for (Index i = 0; i < two.size(); ++i) EXPECT_GE(two(i), T(0)) << c.what << ": negative value";
    const double rj = ratio<T>(two, ref, Ad);
    const double rg = ratio<T>(two, one.template cast<double>(), Ad);
    worst_jacobi = std::max(worst_jacobi, rj);
    worst_gesdd = std::max(worst_gesdd, rg);
    EXPECT_LE(rj, kThreshold) << c.what << " (against Jacobi in double)";
    EXPECT_LE(rg, kThreshold) << c.what << " (against ?gesdd)";
  }
  std::printf("  %s: worst ratio against Jacobi %.2f, against ?gesdd %.2f (threshold %.0f)\n",
              std::is_same_v<T, float> ? "float32" : "float64", worst_jacobi, worst_gesdd, kThreshold);
}

TEST(SvdValuesKernel, TwoStageMeetsTheBackwardBoundOnEveryShape) {
  check_all<double>();
  check_all<float>();
}

// Above kTwoStageValuesMin the backend picks the two-stage kernel by itself; below, ?gesdd.
TEST(SvdValuesKernel, AutomaticPicksTwoStageFromTheCrossover) {
  SplitMixRng rng(5);
  const Index n = kTwoStageValuesMin;
  const MatrixXd A = latms(n, n, geometric(n, 1e8), rng);
  std::string used;
  const Vec<double> s = values<double>(A, SvdValuesKernel::automatic, 0, &used);
  EXPECT_EQ(used, "two-stage");
  EXPECT_LE(ratio<double>(s, geometric(n, 1e8), A), kThreshold) << "against the generated spectrum";
  values<double>(A.topLeftCorner(n - 1, n - 1), SvdValuesKernel::automatic, 0, &used);
  EXPECT_EQ(used, "gesdd");
}

TEST(SvdValuesKernel, TwoStageRefusesNonFiniteInput) {
  MatrixXd A = MatrixXd::Identity(6, 6);
  A(2, 4) = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(values<double>(A, SvdValuesKernel::two_stage, 2), Breakdown);
  A(2, 4) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(values<double>(A, SvdValuesKernel::two_stage, 2), Breakdown);
}

}  // namespace
}  // namespace lowrank
