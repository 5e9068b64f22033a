// CudaBackend<float/double>: the device pieces checked against host (Eigen, float64) results.
// Every test needs a CUDA device; without one the fixture reports it SKIPPED with the reason
// (CTest shows it as skipped through SKIP_REGULAR_EXPRESSION, tests/cuda/CMakeLists.txt).
//
// Tolerances (u = unit roundoff of T; all bounds first order, constant c = 1 unless said):
//  * Householder QR of an m x n matrix is backward stable: the computed R is the exact R of A + dA
//    with ||dA||_F <= m n u ||A||_F (Higham, ASNA 2nd ed., Thm 19.4 summed over columns). Streaming
//    TSQR applies it once per block to [R_{i-1}; X_i^T] (m = n + b rows, ||.||_F <= ||X||_F), so the
//    backward errors add: ||dX||_F <= blocks (n + b) n u ||X||_F =: beta ||X||_F, and
//    ||R^T R - X^T X||_F <= 2 beta ||X||_F^2 (+ O(beta^2)).
//  * The R factor's perturbation: ||dR||_F / ||R||_F <= sqrt(2) kappa(X) beta (Sun 1991; R with a
//    positive diagonal), compared after normalize_row_signs.
//  * Gram accumulation: every entry is a dot product of length N: |dG_ij| <= N u ||x_i|| ||x_j||,
//    so ||dG||_F <= N u ||X||_F^2.
//  * SVD / eigh / Cholesky / LU: LAPACK TESTING's ratios, e.g. ||A - U S V^T||_F / (||A||_F max(m,n) u)
//    and ||I - U^T U||_F / (m u), each below LAPACK's threshold 30.
#include <gtest/gtest.h>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/QR>
#include <Eigen/SVD>
#include <cmath>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/fast/cuda_backend.hpp"

namespace lowrank {
namespace {

constexpr double kThreshold = 30.0;  // LAPACK TESTING's ratio threshold

template <class T> double unit_roundoff() { return std::numeric_limits<T>::epsilon() / 2; }

// Test matrices: the project's one double-precision generator (core/random.hpp: gaussian, haar,
// geometric, latms), seeded, bit-reproducible on every platform.
MatrixXd with_singular_values(Index m, Index n, const VectorXd& s, SplitMixRng& rng) { return latms(m, n, s, rng); }

// The data a T backend sees exactly: round once to T.
template <class T> MatrixXd representable(const MatrixXd& A) { return A.cast<T>().template cast<double>(); }

MatrixXd host_r(const MatrixXd& X) {  // R of X (N x n, N >= n), positive diagonal
  Eigen::HouseholderQR<MatrixXd> qr(X);
  MatrixXd R = qr.matrixQR().topRows(std::min(X.rows(), X.cols())).triangularView<Eigen::Upper>();
  normalize_row_signs(R);
  return R;
}

template <class T> class CudaBackendTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string why = CudaBackend<T>::unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
  static double u() { return unit_roundoff<T>(); }
};
using Scalars = ::testing::Types<float, double>;
TYPED_TEST_SUITE(CudaBackendTest, Scalars);

// Runs everywhere: without a device the constructor must refuse with the same one-line reason.
TEST(CudaBackendNoDevice, ConstructorRefusesWithTheReason) {
  const std::string why = CudaBackend<double>::unavailable_reason();
  if (why.empty()) GTEST_SKIP() << "a CUDA device is present; the no-device path is not reachable here";
  EXPECT_EQ(why.rfind("no CUDA device: ", 0), 0u) << why;
  try {
    CudaBackend<float> be;
    FAIL() << "constructed a CudaBackend without a device";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), why);
  }
}

// Runs everywhere (an empty shape allocates nothing): a moved-from device matrix is 0 x 0, so a
// later gemm into it reallocates instead of writing through its null pointer.
TEST(DeviceMatrixNoDevice, AMovedFromMatrixIsEmpty) {
  DeviceMatrix<double> a = DeviceMatrix<double>::allocate(0, 5);
  ASSERT_EQ(a.cols(), 5);
  DeviceMatrix<double> b = std::move(a);
  EXPECT_EQ(b.rows(), 0);
  EXPECT_EQ(b.cols(), 5);
  EXPECT_EQ(a.rows(), 0);
  EXPECT_EQ(a.cols(), 0);
  EXPECT_EQ(a.data(), nullptr);
  DeviceMatrix<double> c;
  c = std::move(b);
  EXPECT_EQ(c.cols(), 5);
  EXPECT_EQ(b.size(), 0);
  EXPECT_EQ(b.cols(), 0);
}

TEST(CudaSvdDriver, ParsesEveryNameAndRefusesOthers) {
  for (SvdDriver d : {SvdDriver::gesvd, SvdDriver::gesvdj, SvdDriver::gesvdp, SvdDriver::gesvdr})
    EXPECT_EQ(parse_svd_driver(svd_driver_name(d)), d);
  EXPECT_THROW(parse_svd_driver("gesdd"), Error);
}

TYPED_TEST(CudaBackendTest, StreamingTsqrMatchesHouseholderQr) {
  using T = TypeParam;
  SplitMixRng rng(11);
  const Index N = 1000, n = 24, b = 64;
  const double kappa = 10;
  const MatrixXd X = representable<T>(with_singular_values(N, n, geometric(n, kappa), rng));
  CudaBackend<T> be;
  MatrixRowSource src(X);
  Mat<T> Rt = be.download(be.accumulate_r(src, b));
  ASSERT_EQ(Rt.rows(), n);
  ASSERT_EQ(Rt.cols(), n);
  MatrixXd R = Rt.template cast<double>();
  EXPECT_TRUE(R.isUpperTriangular(0.0));
  const StreamStats& st = be.last_stream();
  EXPECT_EQ(st.blocks, (N + b - 1) / b);
  EXPECT_EQ(st.bytes_h2d, double(N) * n * sizeof(T));
  const double beta = double(st.blocks) * double(n + b) * double(n) * this->u();
  const double gram_err = (R.transpose() * R - X.transpose() * X).norm() / X.squaredNorm();
  EXPECT_LE(gram_err, 2 * beta) << "blocks " << st.blocks;
  normalize_row_signs(R);
  const MatrixXd Rref = host_r(X);
  EXPECT_LE((R - Rref).norm() / Rref.norm(), std::sqrt(2.0) * kappa * beta);
}

TYPED_TEST(CudaBackendTest, DeviceMemoryCapSmallerThanXStreamsManyBlocks) {
  using T = TypeParam;
  SplitMixRng rng(12);
  const Index N = 2000, n = 32;
  const double kappa = 10;
  const MatrixXd X = representable<T>(with_singular_values(N, n, geometric(n, kappa), rng));
  CudaOptions opt;
  const Index rows_per_block = 16;
  opt.max_device_bytes = 3 * rows_per_block * n * sizeof(T);  // X itself is N / 16 = 125 times larger
  ASSERT_GT(double(N) * n * sizeof(T), 100.0 * double(opt.max_device_bytes));
  CudaBackend<T> be(opt);
  MatrixRowSource src(X);
  MatrixXd R = be.download(be.accumulate_r(src, /*block_rows asked*/ 4096)).template cast<double>();
  const StreamStats st = be.last_stream();
  EXPECT_EQ(st.block_rows, rows_per_block);
  EXPECT_EQ(st.blocks, N / rows_per_block);
  EXPECT_LE(st.device_block_bytes, opt.max_device_bytes);
  EXPECT_GE(st.hidden_fraction, 0.0);
  EXPECT_LE(st.hidden_fraction, 1.0);
  const double beta = double(st.blocks) * double(n + rows_per_block) * double(n) * this->u();
  EXPECT_LE((R.transpose() * R - X.transpose() * X).norm() / X.squaredNorm(), 2 * beta);
  normalize_row_signs(R);
  const MatrixXd Rref = host_r(X);
  EXPECT_LE((R - Rref).norm() / Rref.norm(), std::sqrt(2.0) * kappa * beta);

  // The same R from host memory (pinned, row-major as .npy C order) under the same cap.
  auto pinned = CudaBackend<T>::alloc_pinned(std::size_t(N) * n);
  Eigen::Map<Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(pinned.get(), N, n) = X.cast<T>();
  HostRows<T> hx{pinned.get(), N, n, n, true, 0};
  MatrixXd R2 = be.accumulate_r(hx, 4096).template cast<double>();
  normalize_row_signs(R2);
  EXPECT_EQ(be.last_stream().blocks, N / rows_per_block);
  EXPECT_LE((R2 - Rref).norm() / Rref.norm(), std::sqrt(2.0) * kappa * beta);

  // A cap below one token row is refused, naming both numbers.
  CudaOptions tiny;
  tiny.max_device_bytes = 3 * n * sizeof(T) - 1;
  CudaBackend<T> be2(tiny);
  MatrixRowSource src2(X);
  try {
    be2.accumulate_r(src2, 64);
    FAIL() << "a cap below one row was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("smaller than one token row"), std::string::npos) << e.what();
  }
}

TYPED_TEST(CudaBackendTest, PeriodicColumnMajorStreamAndInMemoryQr) {
  using T = TypeParam;
  SplitMixRng rng(13);
  const Index P = 100, n = 20, reps = 3, N = reps * P;
  const MatrixXd pool = representable<T>(with_singular_values(P, n, geometric(n, 10), rng));
  Mat<T> poolT = pool.cast<T>();  // column-major, ld = P
  HostRows<T> hx{poolT.data(), N, n, P, false, P};
  CudaBackend<T> be;
  const MatrixXd G = double(reps) * pool.transpose() * pool;  // X^T X of the periodic stream
  // Block 37 does not divide P: copies split where the pool wraps.
  MatrixXd R = be.accumulate_r(hx, 37).template cast<double>();
  const StreamStats st = be.last_stream();
  const double beta = double(st.blocks) * double(n + 37) * double(n) * this->u();
  EXPECT_LE((R.transpose() * R - G).norm() / G.norm(), 2 * beta);
  double secs = -1;
  MatrixXd Rm = be.qr_r_in_memory(hx, &secs).template cast<double>();
  EXPECT_GE(secs, 0.0);
  const double beta1 = double(N) * double(n) * this->u();
  EXPECT_LE((Rm.transpose() * Rm - G).norm() / G.norm(), 2 * beta1);
}

TYPED_TEST(CudaBackendTest, GramAccumulationWithinDotProductBound) {
  using T = TypeParam;
  SplitMixRng rng(14);
  const Index N = 700, n = 30;
  const MatrixXd X = representable<T>(gaussian(N, n, rng));
  CudaBackend<T> be;
  MatrixRowSource src(X);
  const MatrixXd G = be.download(be.accumulate_gram(src, 128)).template cast<double>();
  EXPECT_EQ(be.last_stream().blocks, (N + 127) / 128);
  EXPECT_EQ((G - G.transpose()).norm(), 0.0);  // filled from the lower triangle
  EXPECT_LE((G - X.transpose() * X).norm(), double(N) * this->u() * X.squaredNorm());
}

TYPED_TEST(CudaBackendTest, StackRIsTheTriangleOfTheStack) {
  using T = TypeParam;
  SplitMixRng rng(15);
  const Index n = 12;
  const MatrixXd R0 = representable<T>(host_r(gaussian(20, n, rng)));
  const MatrixXd rows = representable<T>(gaussian(5, n, rng));
  CudaBackend<T> be;
  MatrixXd R = be.stack_r(R0.cast<T>(), rows.cast<T>()).template cast<double>();
  ASSERT_EQ(R.rows(), n);
  MatrixXd S(n + 5, n);
  S << R0, rows;
  const double beta = double(n + 5) * n * this->u();
  EXPECT_LE((R.transpose() * R - S.transpose() * S).norm() / S.squaredNorm(), 2 * beta);
  // Fewer rows than columns: min(k + b, n) = 3 rows come back.
  const MatrixXd few = representable<T>(gaussian(3, n, rng));
  const Mat<T> R3 = be.stack_r(Mat<T>(0, n), few.cast<T>());
  EXPECT_EQ(R3.rows(), 3);
  const MatrixXd R3d = R3.template cast<double>();
  EXPECT_LE((R3d.transpose() * R3d - few.transpose() * few).norm() / few.squaredNorm(), 2 * 3 * n * this->u());
}

// The LAPACK-style SVD ratios for one driver on a tall and a wide matrix.
template <class T> void check_svd(CudaBackend<T>& be, SvdDriver d, Index m, Index n, double u, SplitMixRng& rng) {
  const Index k = std::min(m, n);
  const VectorXd s_true = geometric(k, 1e3);
  const MatrixXd A = representable<T>(with_singular_values(m, n, s_true, rng));
  SvdCallInfo info;
  const ThinSvd<T> s = be.svd(A.cast<T>(), d, -1, &info);
  ASSERT_EQ(s.U.rows(), m);
  ASSERT_EQ(s.U.cols(), k);
  ASSERT_EQ(s.V.rows(), n);
  ASSERT_EQ(s.V.cols(), k);
  const MatrixXd U = s.U.template cast<double>(), V = s.V.template cast<double>();
  const VectorXd sv = s.s.template cast<double>();
  const double mx = double(std::max(m, n));
  EXPECT_LE((A - U * sv.asDiagonal() * V.transpose()).norm() / (A.norm() * mx * u), kThreshold) << info.driver;
  EXPECT_LE((MatrixXd::Identity(k, k) - U.transpose() * U).norm() / (double(m) * u), kThreshold) << info.driver;
  EXPECT_LE((MatrixXd::Identity(k, k) - V.transpose() * V).norm() / (double(n) * u), kThreshold) << info.driver;
  for (Index i = 0; i < k; ++i) {
    if (i > 0) {
      EXPECT_GE(sv(i - 1), sv(i)) << "not descending";
    }
    // Weyl: |ds_i| <= ||dA||_2 <= backward error.
    EXPECT_LE(std::abs(sv(i) - s_true(i)), kThreshold * mx * u * s_true(0)) << info.driver << " s_" << i;
  }
  // The device-side accuracy the backend reports agrees with the host's.
  EXPECT_LE(info.residual / (mx * u), kThreshold) << info.driver;
  EXPECT_LE(info.orth_u / (double(m) * u), kThreshold) << info.driver;
  EXPECT_EQ(info.k, k);
}

TYPED_TEST(CudaBackendTest, SvdDriversPassLapackRatios) {
  using T = TypeParam;
  SplitMixRng rng(16);
  CudaOptions opt;
  opt.verify = true;  // the device-side checks, compared with the host's in check_svd
  CudaBackend<T> be(opt);
  for (SvdDriver d : {SvdDriver::gesvd, SvdDriver::gesvdj, SvdDriver::gesvdp}) {
    check_svd<T>(be, d, 60, 40, this->u(), rng);  // tall
    check_svd<T>(be, d, 40, 60, this->u(), rng);  // wide: the backend factors the transpose
  }
  EXPECT_EQ(be.svd_log().size(), 6u);
  EXPECT_EQ(be.svd_log()[0].driver, "cusolverDnXgesvd");
  EXPECT_EQ(be.svd_log()[4].driver, "cusolverDnXgesvdp");
}

TYPED_TEST(CudaBackendTest, RandomizedSvdIsExactOnLowRankMatrices) {
  // A of exact rank 8 < k + p: the randomized range finder captures range(A) exactly, so only
  // rounding remains and the LAPACK ratios apply to the top k = r + 1 triplets.
  using T = TypeParam;
  SplitMixRng rng(17);
  const Index m = 200, n = 150, rank_a = 8, r = 5;
  VectorXd s8(rank_a);
  for (Index i = 0; i < rank_a; ++i) s8(i) = 10.0 - i;
  const MatrixXd A = representable<T>(haar(m, rank_a, rng) * s8.asDiagonal() * haar(n, rank_a, rng).transpose());
  CudaOptions opt;
  opt.svd = SvdDriver::gesvdr;
  opt.svd_rank = r;
  CudaBackend<T> be(opt);
  const ThinSvd<T> s = be.svd(A.cast<T>());
  const SvdCallInfo& info = be.svd_log().back();
  EXPECT_EQ(info.driver, "cusolverDnXgesvdr");
  ASSERT_EQ(s.s.size(), r + 1);
  const double mx = double(std::max(m, n)), u = this->u();
  for (Index i = 0; i <= r; ++i) EXPECT_LE(std::abs(double(s.s(i)) - s8(i)), kThreshold * mx * u * s8(0)) << i;
  const MatrixXd U = s.U.template cast<double>(), V = s.V.template cast<double>();
  EXPECT_LE((MatrixXd::Identity(r + 1, r + 1) - U.transpose() * U).norm() / (double(m) * u), kThreshold);
  EXPECT_LE((A * V - U * s.s.template cast<double>().asDiagonal()).norm() / (A.norm() * mx * u), kThreshold);
  // Too small for k + p = 3 (r + 1) <= min(m, n): falls back to gesvd and says so.
  be.svd(Mat<T>(A.topLeftCorner(12, 10).cast<T>()));
  EXPECT_EQ(be.svd_log().back().driver, "cusolverDnXgesvd");
  EXPECT_NE(be.svd_log().back().note.find("gesvdr not applicable"), std::string::npos);
}

TYPED_TEST(CudaBackendTest, EighCholeskyInverse) {
  using T = TypeParam;
  SplitMixRng rng(18);
  const Index n = 40;
  const double u = this->u();
  const VectorXd lam = geometric(n, 1e2).reverse();  // ascending
  const MatrixXd Q = haar(n, n, rng);
  MatrixXd G = representable<T>(Q * lam.asDiagonal() * Q.transpose());
  G = representable<T>(0.5 * (G + G.transpose()));
  CudaBackend<T> be;
  const SymEig<T> e = be.eigh(G.cast<T>());
  const VectorXd ev = e.values.template cast<double>();
  const MatrixXd V = e.vectors.template cast<double>();
  const double gn = G.norm();
  for (Index i = 0; i < n; ++i) {
    if (i > 0) {
      EXPECT_LE(ev(i - 1), ev(i)) << "not ascending";
    }
    EXPECT_LE(std::abs(ev(i) - lam(i)), kThreshold * n * u * gn) << i;
  }
  EXPECT_LE((G * V - V * ev.asDiagonal()).norm() / (gn * n * u), kThreshold);
  // Value-only routines (what the driver uses for rank(X)): same backward-stability bound
  // |lambda_i - lambda~_i| <= c n u ||G||, and Weyl for the singular values of a tall matrix.
  const VectorXd ev_only = be.eigenvalues(G.cast<T>()).template cast<double>();
  ASSERT_EQ(ev_only.size(), n);
  for (Index i = 0; i < n; ++i) EXPECT_LE(std::abs(ev_only(i) - lam(i)), kThreshold * n * u * gn) << i;
  const MatrixXd tall = representable<T>(haar(2 * n, n, rng) * lam.reverse().asDiagonal());  // s = lam, descending
  const VectorXd sv = be.singular_values(tall.cast<T>()).template cast<double>();
  const VectorXd sv_wide = be.singular_values(Mat<T>(tall.transpose().cast<T>())).template cast<double>();
  ASSERT_EQ(sv.size(), n);
  ASSERT_EQ(sv_wide.size(), n);
  for (Index i = 0; i < n; ++i) {
    EXPECT_LE(std::abs(sv(i) - lam(n - 1 - i)), kThreshold * n * u * lam.maxCoeff()) << i;
    EXPECT_LE(std::abs(sv_wide(i) - lam(n - 1 - i)), kThreshold * n * u * lam.maxCoeff()) << i;
  }

  Mat<T> L;
  ASSERT_TRUE(be.cholesky_lower(G.cast<T>(), L));
  const MatrixXd Ld = L.template cast<double>();
  EXPECT_TRUE(Ld.isLowerTriangular(0.0));
  EXPECT_LE((Ld * Ld.transpose() - G).norm() / (gn * n * u), kThreshold);
  EXPECT_GE(be.last_potrf_seconds(), 0.0);
  MatrixXd indefinite = G;
  indefinite(n / 2, n / 2) = -1.0;
  Mat<T> L2;
  EXPECT_FALSE(be.cholesky_lower(indefinite.cast<T>(), L2));

  // ||M X - I|| <= n u kappa(M) for LU with partial pivoting on a modestly conditioned M.
  const MatrixXd M = representable<T>(with_singular_values(n, n, geometric(n, 1e2), rng));
  const MatrixXd Mi = be.inverse(M.cast<T>()).template cast<double>();
  EXPECT_LE((M * Mi - MatrixXd::Identity(n, n)).norm() / (n * u * 1e2), kThreshold);
  MatrixXd singular = M;
  singular.col(3).setZero();
  singular.row(3).setZero();
  EXPECT_THROW(be.inverse(singular.cast<T>()), Error);
}

TYPED_TEST(CudaBackendTest, CoalaAndSvdLlmThroughTheDriver) {
  // End to end through core/driver.hpp: the objective of each method against the Eckart-Young
  // optimum computed on the host in float64, within the scale of MATH.md 1.4's objective ratio.
  using T = TypeParam;
  SplitMixRng rng(19);
  const Index m = 30, n = 25, N = 400, r = 6;
  const double kappa = 10;
  const MatrixXd W = representable<T>(gaussian(m, n, rng));
  const MatrixXd X = representable<T>(with_singular_values(N, n, geometric(n, kappa), rng));
  const MatrixXd Rref = host_r(X);
  Eigen::JacobiSVD<MatrixXd> sv(W * Rref.transpose());
  const VectorXd s = sv.singularValues();
  const double fstar = s.tail(s.size() - r).norm();
  const double W2 = W.jacobiSvd().singularValues()(0), X2 = Rref.jacobiSvd().singularValues()(0);
  const double u = this->u();
  for (Method meth : {Method::coala, Method::svd_llm}) {
    CudaBackend<T> be;
    MatrixRowSource src(X);
    SolveOptions opt;
    opt.method = meth;
    opt.rank = r;
    opt.block_rows = 64;
    const Solution<T> sol = solve(be, Mat<T>(W.cast<T>()), src, opt);
    ASSERT_TRUE(sol.report.ok()) << sol.report.failure;
    const MatrixXd A = sol.A.template cast<double>(), B = sol.B.template cast<double>();
    const double f = ((W - A * B) * Rref.transpose()).norm();
    // Gram methods lose u kappa^2 (MATH.md 1.3); COALA u kappa.
    const double amplification = meth == Method::coala ? kappa : kappa * kappa;
    EXPECT_LE((f - fstar) / (u * W2 * X2 * double(std::max({m, n, N})) * amplification), kThreshold)
        << method_name(meth) << ": f = " << f << ", f* = " << fstar;
    EXPECT_GE(be.svd_log().size(), 1u);
  }
}

// The seam's data movement and O(m n) operations on device matrices against HostMatrixOps (the
// CPU and reference backends' versions). Copies, scalings by one factor, diagonal updates and
// the strided diagonal copy are exact; the reductions differ only in summation order: a sum of k
// terms in precision v is within (k - 1) v of the sum of |terms| (Higham, eq. 3.4), v = 2^-53 for
// column_sq_norms (double on both sides), u of T for squared_norm and dot.
TYPED_TEST(CudaBackendTest, DeviceMatrixOperationsMatchTheHostOnes) {
  using T = TypeParam;
  SplitMixRng rng(23);
  const Index m = 37, n = 29, k = 11;
  const Mat<T> M = gaussian(m, n, rng).cast<T>(), Mb = gaussian(m, k, rng).cast<T>();
  const Vec<T> dc = gaussian(n, 1, rng).cast<T>().col(0), dr = gaussian(m, 1, rng).cast<T>().col(0);
  HostMatrixOps<T> host;
  CudaBackend<T> be;
  const DeviceMatrix<T> D = be.upload(M);
  ASSERT_EQ(D.rows(), m);
  ASSERT_EQ(D.cols(), n);
  EXPECT_EQ(be.download(D), M);
  EXPECT_EQ(be.download(be.copy(D)), M);
  EXPECT_EQ(be.download(be.zeros(m, n)), Mat<T>::Zero(m, n));
  EXPECT_EQ(be.download(be.left_cols(D, 7)), host.left_cols(M, 7));
  EXPECT_EQ(be.download(be.left_cols(D, 0)).cols(), 0);
  EXPECT_THROW(be.left_cols(D, n + 1), Error);
  EXPECT_EQ(be.download(be.hcat(D, be.upload(Mb))), host.hcat(M, Mb));
  EXPECT_THROW(be.hcat(D, be.upload(Mat<T>(m + 1, 2))), Error);
  {
    DeviceMatrix<T> S = be.copy(D);
    Mat<T> H = M;
    be.scale_columns(S, dc);
    host.scale_columns(H, dc);
    EXPECT_EQ(be.download(S), H);
    be.scale_rows(S, dr);
    host.scale_rows(H, dr);
    EXPECT_EQ(be.download(S), H);
    EXPECT_THROW(be.scale_rows(S, dc), Error);
  }
  {
    const Mat<T> Q = M.leftCols(m < n ? m : n).topRows(m < n ? m : n);
    DeviceMatrix<T> S = be.upload(Q);
    Mat<T> H = Q;
    be.add_diagonal(S, T(0.75));
    host.add_diagonal(H, T(0.75));
    EXPECT_EQ(be.download(S), H);
    EXPECT_EQ(be.diagonal(S), host.diagonal(H));
    DeviceMatrix<T> R = be.copy(D);  // not square: the min(m, n) diagonal, as on the host
    Mat<T> HR = M;
    be.add_diagonal(R, T(-2));
    host.add_diagonal(HR, T(-2));
    EXPECT_EQ(be.download(R), HR);
    EXPECT_EQ(be.diagonal(R), host.diagonal(HR));
  }
  const std::vector<double> c_dev = be.column_sq_norms(D), c_host = host.column_sq_norms(M);
  ASSERT_EQ(c_dev.size(), std::size_t(n));
  for (Index j = 0; j < n; ++j)
    EXPECT_LE(std::abs(c_dev[std::size_t(j)] - c_host[std::size_t(j)]), double(m) * 0x1p-53 * c_host[std::size_t(j)]);
  const double sq = double(host.squared_norm(M));
  EXPECT_LE(std::abs(double(be.squared_norm(D)) - sq), 2.0 * double(m * n) * this->u() * sq);
  const Mat<T> M2 = gaussian(m, n, rng).cast<T>();
  const double dot_abs = double(M.cwiseAbs().cwiseProduct(M2.cwiseAbs()).sum());
  EXPECT_LE(std::abs(double(be.dot(D, be.upload(M2))) - double(host.dot(M, M2))), 2.0 * double(m * n) * this->u() * dot_abs);
  EXPECT_TRUE(be.all_finite(D));
  for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity()}) {
    Mat<T> Bm = M;
    Bm(m - 1, n - 1) = bad;  // the last element: the counting kernel's grid covers it
    EXPECT_FALSE(be.all_finite(be.upload(Bm)));
  }
  // Device gemm into a C of the wrong shape with beta = 0 resizes it; with beta != 0 refuses.
  DeviceMatrix<T> C = be.zeros(2, 2);
  be.gemm(true, false, T(1), D, D, T(0), C);
  EXPECT_EQ(C.rows(), n);
  EXPECT_EQ(C.cols(), n);
  DeviceMatrix<T> C2 = be.zeros(2, 2);
  EXPECT_THROW(be.gemm(true, false, T(1), D, D, T(1), C2), Error);
  // Cholesky on the device: L lower triangular (zeros above), L L^T = G within potrf's bound.
  const Mat<T> G = (M.transpose() * M + Mat<T>::Identity(n, n)).eval();
  DeviceMatrix<T> L;
  ASSERT_TRUE(be.cholesky_lower(be.upload(G), L));
  const MatrixXd Lh = be.download(L).template cast<double>();
  EXPECT_TRUE(Lh.isLowerTriangular(0.0));
  const MatrixXd Gd = G.template cast<double>();
  EXPECT_LE((Lh * Lh.transpose() - Gd).norm() / (Gd.norm() * double(n) * this->u()), kThreshold);
}

// The trainer's element-wise pieces on the device against HostMatrixOps. axpby: each element is
// alpha x + beta y with at most two roundings either way (cuBLAS may fuse), so within 2 u (|alpha x|
// + |beta y|). masked_residual: E is exact-equal up to one rounding of c mx (the same operations);
// the sums are summed in double on the device (in T on the host): within (k - 1) u_T of sum |terms|.
TYPED_TEST(CudaBackendTest, TrainerStepOperationsMatchTheHostOnes) {
  using T = TypeParam;
  SplitMixRng rng(29);
  const Index d = 41;
  const Mat<T> X = gaussian(d, d, rng).cast<T>(), Y = gaussian(d, d, rng).cast<T>();
  HostMatrixOps<T> host;
  CudaBackend<T> be;
  const T alpha(-0.37), beta(0.91);
  Mat<T> Yh = Y;
  host.axpby(alpha, X, beta, Yh);
  DeviceMatrix<T> Yd = be.upload(Y);
  be.axpby(alpha, be.upload(X), beta, Yd);
  const Mat<T> scale = (alpha * X).cwiseAbs() + (beta * Y).cwiseAbs();
  EXPECT_LE(((be.download(Yd) - Yh).cwiseAbs() - T(2 * this->u()) * scale).maxCoeff(), T(0));
  DeviceMatrix<T> wrong = be.zeros(d, d + 1);
  EXPECT_THROW(be.axpby(alpha, be.upload(X), beta, wrong), Error);

  const Mat<T> P = gaussian(d, d, rng).cast<T>(), Phi = gaussian(d, d, rng).cast<T>();
  Mat<T> mask(d, d);
  for (Index j = 0; j < d; ++j)
    for (Index i = 0; i < d; ++i) mask(i, j) = rng.uniform() < 0.4 ? T(1) : T(0);
  const T c(1.0 / 700);
  for (bool full : {true, false}) {
    const Mat<T> Mh = full ? Mat<T>() : mask;
    Mat<T> Eh;
    const ResidualSums<T> rh = host.masked_residual(P, Phi, Mh, c, Eh);
    DeviceMatrix<T> Ed;
    const ResidualSums<T> rd =
        be.masked_residual(be.upload(P), be.upload(Phi), full ? DeviceMatrix<T>() : be.upload(Mh), c, Ed);
    const Mat<T> Edh = be.download(Ed);
    EXPECT_LE((Edh - Eh).cwiseAbs().maxCoeff(), this->u() * Eh.cwiseAbs().maxCoeff()) << (full ? "full" : "masked");
    const double k = double(d * d);
    EXPECT_LE(std::abs(double(rd.seen) - double(rh.seen)), 2.0 * k * this->u() * double(rh.seen));
    EXPECT_LE(std::abs(double(rd.unseen) - double(rh.unseen)), 2.0 * k * this->u() * double(rh.unseen));
  }
  DeviceMatrix<T> E;
  EXPECT_THROW(be.masked_residual(be.upload(P), be.upload(Phi), be.zeros(d, d - 1), c, E), Error);
}

}  // namespace
}  // namespace lowrank
