// The streaming TSQR's recursive-panel kernel (TpqrtKernel::recursive_panel, the default) against
// LAPACK's ?tpqrt, over shapes that cross its leaf (16 columns), its panel width and the block
// boundaries: both must meet Householder QR's backward-error bound, and agree with each other.
//
// Bounds (first order, Higham, Accuracy and Stability, 19.3): a column of X^T receives, per block,
// at most n reflectors, each an inner product and an update of length <= block + 1; with the norm
// computations that is a backward error X^T + dX = Q R, ||dX||_F <~ (n + block) u ||X||_F, so
// ||R^T R - X X^T||_F <= 2 ||X||_2 ||dX||_F ~ 2 (n + block) u ||X||_2 ||X||_F: the ratio below
// must be <= 1 (measured: <= ~0.5 at n = 1 in float32, <= ~0.05 from n = 17; a wrong reflector or
// T factor gives ~1/u). Two backward-stable R's of the same X, each row's sign fixed by a
// nonnegative diagonal, differ by at most ~ kappa(X) times that backward error:
// ||R1 - R2||_F <= 4 (n + block) u kappa ||X||_F.
#include <gtest/gtest.h>

#include <Eigen/SVD>
#include <algorithm>
#include <cstdio>
#include <cstdlib>

#include "lowrank/core/random.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace lowrank {
namespace {

template <class T> Mat<T> tsqr(const MatrixXd& X, Index block, TpqrtKernel kernel, Index nb) {
  CpuOptions o;
  o.tpqrt = kernel;
  o.tpqrt_nb = nb;
  CpuBackend<T> be(o);
  MatrixRowSource src(X, std::is_same_v<T, float> ? 0x1p-24 : 0x1p-53, "X");
  return be.accumulate_r(src, block);
}

template <class T> void check_shapes(double u) {
  SplitMixRng rng(3);
  struct Shape {
    Index N, n, block, nb;
  };
  const Shape shapes[] = {{7, 1, 3, 0},     {30, 5, 7, 0},     {90, 17, 20, 0},  {200, 40, 64, 20},
                          {200, 40, 33, 37}, {120, 40, 200, 0}, {700, 300, 256, 0}, {900, 300, 400, 100}, {100, 40, 13, 16}};
  double worst = 0, worst_agree = 0;
  for (const Shape& s : shapes) {
    const MatrixXd X = gaussian(s.N, s.n, rng).template cast<T>().template cast<double>();
    const Eigen::JacobiSVD<MatrixXd> sv(X);
    const double x2 = sv.singularValues()(0), xf = X.norm();
    const double kappa = x2 / sv.singularValues()(s.n - 1);
    const MatrixXd G = X.transpose() * X;
    MatrixXd R[2];
    int k = 0;
    for (TpqrtKernel kernel : {TpqrtKernel::recursive_panel, TpqrtKernel::lapack}) {
      R[k] = tsqr<T>(X, s.block, kernel, s.nb).template cast<double>();
      ASSERT_EQ(R[k].rows(), s.n);
      EXPECT_TRUE(R[k].template triangularView<Eigen::StrictlyLower>().toDenseMatrix().isZero(0));
      const double ratio = (R[k].transpose() * R[k] - G).norm() / (2.0 * double(s.n + s.block) * u * x2 * xf);
      worst = std::max(worst, ratio);
      if (std::getenv("TPQRT_VERBOSE")) std::printf("    %s N=%ld n=%ld block=%ld nb=%ld ratio %.2e\n", k ? "lapack   " : "recursive", long(s.N), long(s.n), long(s.block), long(s.nb), ratio);
      EXPECT_LE(ratio, 1.0) << (k == 0 ? "recursive" : "lapack") << " N=" << s.N << " n=" << s.n << " block=" << s.block
                            << " nb=" << s.nb;
      ++k;
    }
    // QR fixes R up to the signs of its rows: the recursive kernel's first block is [0; X_1^T]
    // (?larfg on a zero head gives a negative diagonal), LAPACK's is ?geqrf's (-sign(x_1)).
    for (MatrixXd& Rk : R)
      for (Index i = 0; i < s.n; ++i)
        if (Rk(i, i) < 0) Rk.row(i) *= -1.0;
    const double agree = (R[0] - R[1]).norm() / (4.0 * double(s.n + s.block) * u * kappa * xf);
    worst_agree = std::max(worst_agree, agree);
    EXPECT_LE(agree, 1.0) << "kernels disagree: N=" << s.N << " n=" << s.n << " block=" << s.block << " nb=" << s.nb;
  }
  std::printf("  u = %.1e: worst backward ratio %.2e, worst agreement ratio %.2e\n", u, worst, worst_agree);
}

TEST(TpqrtKernel, RecursivePanelMeetsHouseholdersBoundAndAgreesWithLapack) {
  check_shapes<double>(0x1p-53);
  check_shapes<float>(0x1p-24);
}

}  // namespace
}  // namespace lowrank
