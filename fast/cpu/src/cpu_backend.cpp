#include "lowrank/fast/cpu_backend.hpp"

#include <cblas.h>
#include <lapacke.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>

#include "lowrank/core/error.hpp"
#include "two_stage_values.hpp"

namespace lowrank {
namespace {

// ---- float / double dispatch of the few LAPACK/BLAS routines used -------------------------------
inline lapack_int geqrf(lapack_int m, lapack_int n, float* a, lapack_int lda, float* tau) {
  return LAPACKE_sgeqrf(LAPACK_COL_MAJOR, m, n, a, lda, tau);
}
inline lapack_int geqrf(lapack_int m, lapack_int n, double* a, lapack_int lda, double* tau) {
  return LAPACKE_dgeqrf(LAPACK_COL_MAJOR, m, n, a, lda, tau);
}
inline lapack_int tpqrt(lapack_int m, lapack_int n, lapack_int l, lapack_int nb, float* a, lapack_int lda,
                        float* b, lapack_int ldb, float* t, lapack_int ldt, float* work) {
  return LAPACKE_stpqrt_work(LAPACK_COL_MAJOR, m, n, l, nb, a, lda, b, ldb, t, ldt, work);
}
inline lapack_int tpqrt(lapack_int m, lapack_int n, lapack_int l, lapack_int nb, double* a, lapack_int lda,
                        double* b, lapack_int ldb, double* t, lapack_int ldt, double* work) {
  return LAPACKE_dtpqrt_work(LAPACK_COL_MAJOR, m, n, l, nb, a, lda, b, ldb, t, ldt, work);
}
inline lapack_int tpqrt2(lapack_int m, lapack_int n, float* a, lapack_int lda, float* b, lapack_int ldb, float* t,
                         lapack_int ldt) {
  return LAPACKE_stpqrt2_work(LAPACK_COL_MAJOR, m, n, 0, a, lda, b, ldb, t, ldt);
}
inline lapack_int tpqrt2(lapack_int m, lapack_int n, double* a, lapack_int lda, double* b, lapack_int ldb, double* t,
                         lapack_int ldt) {
  return LAPACKE_dtpqrt2_work(LAPACK_COL_MAJOR, m, n, 0, a, lda, b, ldb, t, ldt);
}
inline lapack_int tprfb(lapack_int m, lapack_int n, lapack_int k, const float* v, lapack_int ldv, const float* t,
                        lapack_int ldt, float* a, lapack_int lda, float* b, lapack_int ldb, float* work) {
  return LAPACKE_stprfb_work(LAPACK_COL_MAJOR, 'L', 'T', 'F', 'C', m, n, k, 0, v, ldv, t, ldt, a, lda, b, ldb, work, k);
}
inline lapack_int tprfb(lapack_int m, lapack_int n, lapack_int k, const double* v, lapack_int ldv, const double* t,
                        lapack_int ldt, double* a, lapack_int lda, double* b, lapack_int ldb, double* work) {
  return LAPACKE_dtprfb_work(LAPACK_COL_MAJOR, 'L', 'T', 'F', 'C', m, n, k, 0, v, ldv, t, ldt, a, lda, b, ldb, work, k);
}
inline void trmm_lu(bool trans, int m, int n, float alpha, const float* a, int lda, float* b, int ldb) {
  cblas_strmm(CblasColMajor, CblasLeft, CblasUpper, trans ? CblasTrans : CblasNoTrans, CblasNonUnit, m, n, alpha, a, lda,
              b, ldb);
}
inline void trmm_lu(bool trans, int m, int n, double alpha, const double* a, int lda, double* b, int ldb) {
  cblas_dtrmm(CblasColMajor, CblasLeft, CblasUpper, trans ? CblasTrans : CblasNoTrans, CblasNonUnit, m, n, alpha, a, lda,
              b, ldb);
}
inline void trmm_ru(int m, int n, float alpha, const float* a, int lda, float* b, int ldb) {
  cblas_strmm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, m, n, alpha, a, lda, b, ldb);
}
inline void trmm_ru(int m, int n, double alpha, const double* a, int lda, double* b, int ldb) {
  cblas_dtrmm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, m, n, alpha, a, lda, b, ldb);
}
inline void syrk_ut(int n, int k, const float* a, int lda, float* c, int ldc) {
  cblas_ssyrk(CblasColMajor, CblasUpper, CblasTrans, n, k, 1.0f, a, lda, 1.0f, c, ldc);
}
inline void syrk_ut(int n, int k, const double* a, int lda, double* c, int ldc) {
  cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, n, k, 1.0, a, lda, 1.0, c, ldc);
}
inline void gemm_cm(bool ta, bool tb, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
                    int ldb, float beta, float* c, int ldc) {
  cblas_sgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
              b, ldb, beta, c, ldc);
}
inline void gemm_cm(bool ta, bool tb, int m, int n, int k, double alpha, const double* a, int lda, const double* b,
                    int ldb, double beta, double* c, int ldc) {
  cblas_dgemm(CblasColMajor, ta ? CblasTrans : CblasNoTrans, tb ? CblasTrans : CblasNoTrans, m, n, k, alpha, a, lda,
              b, ldb, beta, c, ldc);
}
inline lapack_int gesdd(char jobz, lapack_int m, lapack_int n, float* a, float* s, float* u, lapack_int ldu,
                        float* vt, lapack_int ldvt) {
  return LAPACKE_sgesdd(LAPACK_COL_MAJOR, jobz, m, n, a, m, s, u, ldu, vt, ldvt);
}
inline lapack_int gesdd(char jobz, lapack_int m, lapack_int n, double* a, double* s, double* u, lapack_int ldu,
                        double* vt, lapack_int ldvt) {
  return LAPACKE_dgesdd(LAPACK_COL_MAJOR, jobz, m, n, a, m, s, u, ldu, vt, ldvt);
}
inline lapack_int syevd(char jobz, lapack_int n, float* a, float* w) {
  return LAPACKE_ssyevd(LAPACK_COL_MAJOR, jobz, 'L', n, a, n, w);
}
inline lapack_int syevd(char jobz, lapack_int n, double* a, double* w) {
  return LAPACKE_dsyevd(LAPACK_COL_MAJOR, jobz, 'L', n, a, n, w);
}
inline lapack_int potrf(lapack_int n, float* a) { return LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', n, a, n); }
inline lapack_int potrf(lapack_int n, double* a) { return LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'L', n, a, n); }
inline lapack_int getrf(lapack_int n, float* a, lapack_int* ipiv) {
  return LAPACKE_sgetrf(LAPACK_COL_MAJOR, n, n, a, n, ipiv);
}
inline lapack_int getrf(lapack_int n, double* a, lapack_int* ipiv) {
  return LAPACKE_dgetrf(LAPACK_COL_MAJOR, n, n, a, n, ipiv);
}
inline lapack_int getri(lapack_int n, float* a, const lapack_int* ipiv) {
  return LAPACKE_sgetri(LAPACK_COL_MAJOR, n, a, n, ipiv);
}
inline lapack_int getri(lapack_int n, double* a, const lapack_int* ipiv) {
  return LAPACKE_dgetri(LAPACK_COL_MAJOR, n, a, n, ipiv);
}

// LAPACK takes 32-bit dimensions here (lapack_int); refuse what does not fit rather than wrap.
lapack_int dim(Index k, const char* what) {
  if (k < 0 || k > INT_MAX)
    throw Error(std::string("cpu backend: ") + what + " = " + std::to_string(k) +
                " does not fit LAPACK's 32-bit integers");
  return static_cast<lapack_int>(k);
}

// ---- ?tpqrt with a recursive panel ----------------------------------------------------------
// The TSQR update qr_R([R; B]) (R k x k upper triangular on top of a dense b x k block B) as
// LAPACK's ?tpqrt computes it (l = 0: same Householder reflectors, same compact-WY Q = I - Y T Y^T
// with Y = [I; V], V overwriting B), but with every panel factored recursively in level-3 BLAS
// (Elmroth & Gustavson 2000) instead of ?tpqrt2's column-by-column level-2 sweep, which on a b x nb
// panel runs at memory speed. Panels of nb columns; the trailing columns updated by ?tprfb.

// [A; B]: A (k x k, upper triangle used) over B (b x k); on exit A's upper triangle holds the new
// R, B the reflectors' tails V, T (k x k, ld ldt) the upper-triangular factor of the block
// reflector. Split k = k1 + k2: factor the left half, apply its reflector to the right half
// (W = T1^T (A12 + V1^T B2), A12 -= W, B2 -= V1 W), factor the right half, and join the two
// T factors: T12 = -T1 (V1^T V2) T2 (the identity parts of Y1 and Y2 are disjoint).
template <class T>
void tpqrt_recursive_panel(lapack_int b, lapack_int k, T* A, lapack_int lda, T* B, lapack_int ldb, T* Tf,
                           lapack_int ldt, lapack_int leaf) {
  if (k <= leaf) {
    const lapack_int info = tpqrt2(b, k, A, lda, B, ldb, Tf, ldt);
    if (info != 0) throw Error("cpu backend: ?tpqrt2 returned info = " + std::to_string(info));
    return;
  }
  const lapack_int k1 = k / 2, k2 = k - k1;
  tpqrt_recursive_panel(b, k1, A, lda, B, ldb, Tf, ldt, leaf);
  T* W = Tf + std::size_t(k1) * ldt;  // T12's place (k1 x k2) serves as the workspace first
  T* A12 = A + std::size_t(k1) * lda;
  T* B2 = B + std::size_t(k1) * ldb;
  for (lapack_int j = 0; j < k2; ++j)
    std::copy(A12 + std::size_t(j) * lda, A12 + std::size_t(j) * lda + k1, W + std::size_t(j) * ldt);
  gemm_cm(true, false, k1, k2, b, T(1), B, ldb, B2, ldb, T(1), W, ldt);  // W = A12 + V1^T B2
  trmm_lu(true, k1, k2, T(1), Tf, ldt, W, ldt);                            // W = T1^T W
  for (lapack_int j = 0; j < k2; ++j)
    for (lapack_int i = 0; i < k1; ++i) A12[std::size_t(j) * lda + i] -= W[std::size_t(j) * ldt + i];
  gemm_cm(false, false, b, k2, k1, T(-1), B, ldb, W, ldt, T(1), B2, ldb);  // B2 -= V1 W
  T* T22 = Tf + k1 + std::size_t(k1) * ldt;
  tpqrt_recursive_panel(b, k2, A + k1 + std::size_t(k1) * lda, lda, B2, ldb, T22, ldt, leaf);
  gemm_cm(true, false, k1, k2, b, T(1), B, ldb, B2, ldb, T(0), W, ldt);  // T12 = V1^T V2
  trmm_lu(false, k1, k2, T(-1), Tf, ldt, W, ldt);                         //     = -T1 T12
  trmm_ru(k1, k2, T(1), T22, ldt, W, ldt);                                //       T12 T2
}

// qr_R([R; B]) in place: R (n x n, ld n) over B (b x n, ld b), panels of nb columns. Tq (nb x nb)
// and work (nb x n) are the caller's.
template <class T>
void tpqrt_blocked(lapack_int b, lapack_int n, T* R, T* B, lapack_int nb, lapack_int leaf, T* Tq, T* work) {
  for (lapack_int j = 0; j < n; j += nb) {
    const lapack_int jb = std::min(nb, n - j);
    T* Bj = B + std::size_t(j) * b;
    tpqrt_recursive_panel(b, jb, R + j + std::size_t(j) * n, n, Bj, b, Tq, nb, leaf);
    if (j + jb < n) {
      const lapack_int info = tprfb(b, n - j - jb, jb, Bj, b, Tq, nb, R + j + std::size_t(j + jb) * n, n,
                                    Bj + std::size_t(jb) * b, b, work);
      if (info != 0) throw Error("cpu backend: ?tprfb returned info = " + std::to_string(info));
    }
  }
}

class Timer {
 public:
  Timer() : t0_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0_).count();
  }

 private:
  std::chrono::steady_clock::time_point t0_;
};

// "tokens done / total, rate" on stderr, first after 1 s, then every 0.5 s (tty: one line
// rewritten in place) or every 10 s (not a tty: one line each); a final line when it printed.
template <class T> void require_finite_input(const Mat<T>& M, const char* op) {
  if (!M.allFinite())
    throw Breakdown(std::string("cpu backend: ") + op + " of a " + shape_str(M.rows(), M.cols()) +
                " matrix containing NaN or Inf");
}

}  // namespace

template <class T> Mat<T> CpuBackend<T>::accumulate_r(RowBlockSource& X, Index block_rows) {
  const Index n = X.cols(), N = X.rows();
  const lapack_int ni = dim(n, "n");
  stats_.tokens = 0;
  stats_.accumulate_flops = 0;
  Mat<T> R = Mat<T>::Zero(n, n);
  Mat<T> block;
  BlockReader<T> blocks(X, block_rows);  // float blocks read straight as float, row count checked

  if (opt_.in_memory_qr) {
    // The whole X^T (N x n) in memory, one geqrf: the comparison point for the streaming TSQR.
    Mat<T> XT(N, n);
    while (blocks.next(block)) XT.middleRows(blocks.done() - block.rows(), block.rows()) = block;
    Vec<T> tau(std::min(N, n));
    Timer t;
    const lapack_int info = geqrf(dim(N, "N"), ni, XT.data(), dim(N, "N"), tau.data());
    stats_.last_lapack_info = int(info);
    if (info != 0) throw Error("cpu backend: ?geqrf returned info = " + std::to_string(info));
    const Index k = std::min(N, n);
    R.topRows(k) = XT.topRows(k).template triangularView<Eigen::Upper>();
    const double fl = N >= n ? 2.0 * N * n * n - 2.0 * n * n * n / 3.0 : 2.0 * n * N * N - 2.0 * N * N * N / 3.0;
    auto& ks = stats_.kernels["geqrf"];
    ks.flops += fl; ks.seconds += t.seconds(); ++ks.calls;
    stats_.tokens = N;
    stats_.accumulate_flops = fl;
    stats_.accumulate_bytes = sizeof(T) * (XT.size() + R.size() + tau.size() + block.size());
    return R;
  }

  // Streaming TSQR. R is n x n upper triangular throughout (zero rows while fewer than n tokens
  // have been seen). The recursive kernel factors every block, the first included, as [R; X_i^T]
  // (R = 0 at first: the same Householder QR of X_1^T as geqrf's, whose level-2 panel ran at half
  // the recursive kernel's speed: 0.29 s against 0.16 s for a 4096 x 1024 block here); LAPACK's
  // column factors the first block by geqrf and every later one by ?tpqrt.
  const bool recursive = opt_.tpqrt == TpqrtKernel::recursive_panel;
  const Index nb = std::max<Index>(1, std::min<Index>(n, opt_.tpqrt_nb > 0 ? opt_.tpqrt_nb : recursive ? 256 : 64));
  Mat<T> Tq(nb, recursive ? nb : n), work(nb, n);
  Vec<T> tau(n);
  bool first = true;
  while (blocks.next(block)) {
    const Index b = block.rows();
    T* B = block.data();
    Timer t;
    if (first && !recursive) {
      const lapack_int info = geqrf(dim(b, "block rows"), ni, B, dim(b, "block rows"), tau.data());
      stats_.last_lapack_info = int(info);
      if (info != 0) throw Error("cpu backend: ?geqrf returned info = " + std::to_string(info));
      const Index k = std::min(b, n);
      Eigen::Map<Mat<T>> Bm(B, b, n);
      R.topRows(k) = Bm.topRows(k).template triangularView<Eigen::Upper>();
      const double fl = b >= n ? 2.0 * b * n * n - 2.0 * n * n * n / 3.0 : 2.0 * n * b * b - 2.0 * b * b * b / 3.0;
      auto& ks = stats_.kernels["geqrf"];
      ks.flops += fl; ks.seconds += t.seconds(); ++ks.calls;
      first = false;
    } else if (recursive) {
      tpqrt_blocked<T>(dim(b, "block rows"), ni, R.data(), B, dim(nb, "nb"), 16, Tq.data(), work.data());
      auto& ks = stats_.kernels["tpqrt-recursive"];
      ks.flops += 2.0 * b * n * n;  // nominal, as ?tpqrt's (the recursive T factors add about nb / n)
      ks.seconds += t.seconds(); ++ks.calls;
    } else {
      const lapack_int info = tpqrt(dim(b, "block rows"), ni, 0, dim(nb, "nb"), R.data(), ni, B,
                                    dim(b, "block rows"), Tq.data(), dim(nb, "nb"), work.data());
      stats_.last_lapack_info = int(info);
      if (info != 0) throw Error("cpu backend: ?tpqrt returned info = " + std::to_string(info));
      auto& ks = stats_.kernels["tpqrt"];
      ks.flops += 2.0 * b * n * n;  // n reflectors of length 1 + b, each applied to <= n columns
      ks.seconds += t.seconds(); ++ks.calls;
    }
  }
  R.template triangularView<Eigen::StrictlyLower>().setZero();  // tpqrt leaves it alone; be explicit
  stats_.tokens = N;
  // The same nominal count as the in-memory geqrf of X^T, so GFLOP/s compare directly.
  stats_.accumulate_flops = N >= n ? 2.0 * N * n * n - 2.0 * n * n * n / 3.0 : 2.0 * n * N * N - 2.0 * N * N * N / 3.0;
  stats_.accumulate_bytes = sizeof(T) * (R.size() + Tq.size() + work.size() + tau.size() + block.size());
  return R;
}

template <class T> Mat<T> CpuBackend<T>::accumulate_gram(RowBlockSource& X, Index block_rows) {
  const Index n = X.cols(), N = X.rows();
  const int ni = dim(n, "n");
  Mat<T> G = Mat<T>::Zero(n, n);
  Mat<T> block;
  BlockReader<T> blocks(X, block_rows);
  while (blocks.next(block)) {
    const Index b = block.rows();
    T* B = block.data();
    Timer t;
    syrk_ut(ni, dim(b, "block rows"), B, dim(b, "block rows"), G.data(), ni);
    auto& ks = stats_.kernels["syrk"];
    ks.flops += double(b) * n * (n + 1);
    ks.seconds += t.seconds(); ++ks.calls;
  }
  G.template triangularView<Eigen::StrictlyLower>() = G.transpose();
  stats_.tokens = N;
  stats_.accumulate_flops = double(N) * n * (n + 1);
  stats_.accumulate_bytes = sizeof(T) * (G.size() + block.size());
  return G;
}

template <class T> Mat<T> CpuBackend<T>::stack_r(const Mat<T>& R, const Mat<T>& rows) {
  const Index n = rows.cols();
  if (R.cols() != n)
    throw Error("cpu stack_r: R is " + shape_str(R.rows(), R.cols()) + " but the rows are " +
                shape_str(rows.rows(), rows.cols()));
  const lapack_int ni = dim(n, "n");
  if (rows.rows() == 0) return R;
  Timer t;
  if (R.rows() == n && n > 0) {
    // [R; B] with R n x n upper triangular: tpqrt; l = n when B is itself upper triangular
    // (the sqrt(mu) I of R_mu), which halves the work again.
    Mat<T> A = R.template triangularView<Eigen::Upper>();
    Mat<T> B = rows;
    const Index b = B.rows();
    const bool triangular = b == n && B.template triangularView<Eigen::StrictlyLower>().toDenseMatrix().isZero(0);
    const Index l = triangular ? n : 0;
    const Index nb = std::max<Index>(1, std::min<Index>(n, opt_.tpqrt_nb > 0 ? opt_.tpqrt_nb : 64));
    Mat<T> Tq(nb, n), work(nb, n);
    const lapack_int info = tpqrt(dim(b, "rows"), ni, dim(l, "l"), dim(nb, "nb"), A.data(), ni, B.data(),
                                  dim(b, "rows"), Tq.data(), dim(nb, "nb"), work.data());
    stats_.last_lapack_info = int(info);
    if (info != 0) throw Error("cpu backend: ?tpqrt returned info = " + std::to_string(info));
    auto& ks = stats_.kernels["tpqrt"];
    ks.flops += triangular ? 2.0 * n * n * n / 3.0 : 2.0 * b * n * n;
    ks.seconds += t.seconds(); ++ks.calls;
    A.template triangularView<Eigen::StrictlyLower>().setZero();
    return A;
  }
  // General stack (R with fewer than n rows, as the driver's stream_r starts): geqrf of [R; rows].
  const Index k = R.rows() + rows.rows();
  Mat<T> S(k, n);
  S << R, rows;
  Vec<T> tau(std::min(k, n));
  const lapack_int info = geqrf(dim(k, "rows"), ni, S.data(), dim(k, "rows"), tau.data());
  stats_.last_lapack_info = int(info);
  if (info != 0) throw Error("cpu backend: ?geqrf returned info = " + std::to_string(info));
  auto& ks = stats_.kernels["geqrf"];
  ks.flops += k >= n ? 2.0 * k * n * n - 2.0 * n * n * n / 3.0 : 2.0 * n * k * k - 2.0 * k * k * k / 3.0;
  ks.seconds += t.seconds(); ++ks.calls;
  const Index out = std::min(k, n);
  return S.topRows(out).template triangularView<Eigen::Upper>();
}

template <class T> ThinSvd<T> CpuBackend<T>::svd(const Mat<T>& M) { return svd_impl(M, true); }
template <class T> Vec<T> CpuBackend<T>::singular_values(const Mat<T>& M) {
  const Index m = M.rows(), n = M.cols(), q = std::min(m, n);
  const bool two_stage = opt_.values_kernel == SvdValuesKernel::two_stage ||
                         (opt_.values_kernel == SvdValuesKernel::automatic && q >= kTwoStageValuesMin);
  if (!two_stage || q == 0) return svd_impl(M, false).s;
  require_finite_input(M, "singular_values");
  Mat<T> A = M;
  Timer t;
  const Index band = opt_.values_band > 0 ? opt_.values_band : (q <= 2048 ? 32 : 48);
  Vec<T> s = detail::two_stage_singular_values(A, band);
  // The same nominal count as ?gesdd's values-only (Golub & Van Loan, Fig. 8.6.1), so the two
  // kernels' GFLOP/s compare directly.
  const double p = double(std::max(m, n)), qd = double(q);
  auto& kv = stats_.kernels["svd-values-2stage"];
  kv.flops += 4.0 * p * qd * qd - 4.0 * qd * qd * qd / 3.0;
  kv.seconds += t.seconds(); ++kv.calls;
  return s;
}

template <class T> ThinSvd<T> CpuBackend<T>::svd_impl(const Mat<T>& M, bool vectors) {
  ThinSvd<T> out;
  const Index m = M.rows(), n = M.cols(), k = std::min(m, n);
  if (k == 0) {
    out.U = Mat<T>(m, 0);
    out.V = Mat<T>(n, 0);
    out.s = Vec<T>(0);
    return out;
  }
  require_finite_input(M, "svd");
  Mat<T> A = M;
  // jobz = 'N' (values only, for the numerical rank of X) skips the vectors.
  Mat<T> VT(vectors ? k : 1, vectors ? n : 1);
  out.U.resize(vectors ? m : 1, vectors ? k : 1);
  out.s.resize(k);
  Timer t;
  const lapack_int info = gesdd(vectors ? 'S' : 'N', dim(m, "rows"), dim(n, "cols"), A.data(), out.s.data(),
                                out.U.data(), vectors ? dim(m, "rows") : 1, VT.data(), vectors ? dim(k, "k") : 1);
  stats_.last_lapack_info = int(info);
  if (info > 0)
    throw Breakdown("cpu backend: ?gesdd did not converge (info = " + std::to_string(info) + ") on a " + shape_str(m, n) + " matrix");
  if (info != 0)
    throw Error("cpu backend: ?gesdd " + std::string(info > 0 ? "did not converge" : "rejected its arguments") +
                " (info = " + std::to_string(info) + ") on a " + shape_str(m, n) + " matrix");
  if (!vectors) {
    // Golub & Van Loan, Fig. 8.6.1: singular values only, 4 p q^2 - 4 q^3 / 3.
    out.U.resize(m, 0);
    const double p = double(std::max(m, n)), q = double(k);
    auto& kv = stats_.kernels["gesdd-values"];
    kv.flops += 4.0 * p * q * q - 4.0 * q * q * q / 3.0;
    kv.seconds += t.seconds(); ++kv.calls;
    return out;
  }
  out.V = VT.transpose();
  // Golub & Van Loan (Matrix Computations, 4th ed., Fig. 8.6.1): thin SVD with U_1 and V,
  // R-SVD variant, 6 p q^2 + 20 q^3 with p = max(m, n), q = min(m, n).
  const double p = double(std::max(m, n)), q = double(k);
  auto& ks = stats_.kernels["gesdd"];
  ks.flops += 6.0 * p * q * q + 20.0 * q * q * q;
  ks.seconds += t.seconds(); ++ks.calls;
  return out;
}

template <class T> SymEig<T> CpuBackend<T>::eigh(const Mat<T>& G) { return eigh_impl(G, true); }
template <class T> Vec<T> CpuBackend<T>::eigenvalues(const Mat<T>& G) { return eigh_impl(G, false).values; }

template <class T> SymEig<T> CpuBackend<T>::eigh_impl(const Mat<T>& G, bool vectors) {
  const Index n = G.rows();
  if (G.cols() != n) throw Error("cpu eigh: matrix is " + shape_str(G.rows(), G.cols()) + ", not square");
  SymEig<T> out;
  out.values.resize(n);
  out.vectors = G;
  if (n == 0) return out;
  require_finite_input(G, "eigh");
  Timer t;
  const lapack_int info = syevd(vectors ? 'V' : 'N', dim(n, "n"), out.vectors.data(), out.values.data());
  stats_.last_lapack_info = int(info);
  if (info > 0)
    throw Breakdown("cpu backend: ?syevd did not converge (info = " + std::to_string(info) + ") on a " + shape_str(n, n) + " matrix");
  if (info != 0)
    throw Error("cpu backend: ?syevd " + std::string(info > 0 ? "did not converge" : "rejected its arguments") +
                " (info = " + std::to_string(info) + ") on a " + shape_str(n, n) + " matrix");
  // Golub & Van Loan: symmetric QR algorithm, about 9 n^3 with eigenvectors, 4 n^3 / 3 without
  // (nominal).
  if (!vectors) out.vectors.resize(n, 0);
  auto& ks = stats_.kernels[vectors ? "syevd" : "syevd-values"];
  ks.flops += (vectors ? 9.0 : 4.0 / 3.0) * double(n) * n * n;
  ks.seconds += t.seconds(); ++ks.calls;
  return out;
}

template <class T> bool CpuBackend<T>::cholesky_lower(const Mat<T>& G, Mat<T>& L) {
  const Index n = G.rows();
  if (G.cols() != n) throw Error("cpu cholesky: matrix is " + shape_str(G.rows(), G.cols()) + ", not square");
  if (!G.allFinite()) return false;  // nothing to factor: a breakdown, as torch.linalg.cholesky reports
  Mat<T> A = G;
  Timer t;
  const lapack_int info = n ? potrf(dim(n, "n"), A.data()) : 0;
  stats_.last_lapack_info = int(info);
  if (info < 0) throw Error("cpu backend: ?potrf rejected argument " + std::to_string(-info));
  auto& ks = stats_.kernels["potrf"];
  ks.flops += double(n) * n * n / 3.0;
  ks.seconds += t.seconds(); ++ks.calls;
  if (info > 0) return false;  // leading minor of order info is not positive definite
  A.template triangularView<Eigen::StrictlyUpper>().setZero();
  L = std::move(A);
  return true;
}

template <class T> Mat<T> CpuBackend<T>::inverse(const Mat<T>& M) {
  const Index n = M.rows();
  if (M.cols() != n) throw Error("cpu inverse: matrix is " + shape_str(M.rows(), M.cols()) + ", not square");
  if (n == 0) return M;
  require_finite_input(M, "inverse");
  Mat<T> A = M;
  std::vector<lapack_int> ipiv(n);
  Timer t;
  lapack_int info = getrf(dim(n, "n"), A.data(), ipiv.data());
  stats_.last_lapack_info = int(info);
  if (info > 0)
    throw Breakdown("cpu backend: inverse of a singular " + shape_str(n, n) + " matrix (?getrf: U(" +
                std::to_string(info) + "," + std::to_string(info) + ") = 0)");
  if (info < 0) throw Error("cpu backend: ?getrf rejected argument " + std::to_string(-info));
  info = getri(dim(n, "n"), A.data(), ipiv.data());
  stats_.last_lapack_info = int(info);
  if (info != 0) throw Error("cpu backend: ?getri returned info = " + std::to_string(info));
  auto& ks = stats_.kernels["getrf+getri"];
  ks.flops += 2.0 * double(n) * n * n;  // MAGMA: getrf 2n^3/3 + getri 4n^3/3
  ks.seconds += t.seconds(); ++ks.calls;
  return A;
}

template <class T>
void CpuBackend<T>::gemm(bool trans_a, bool trans_b, T alpha, const Mat<T>& A, const Mat<T>& B, T beta, Mat<T>& C) {
  const Index m = trans_a ? A.cols() : A.rows(), k = trans_a ? A.rows() : A.cols();
  const Index kb = trans_b ? B.cols() : B.rows(), n = trans_b ? B.rows() : B.cols();
  if (k != kb)
    throw Error("cpu gemm: op(A) is " + shape_str(m, k) + " but op(B) is " + shape_str(kb, n));
  if (C.data() != nullptr && (C.data() == A.data() || C.data() == B.data()))
    throw Error("cpu gemm: C shares storage with A or B");
  if (beta == T(0)) {
    if (C.rows() != m || C.cols() != n) C.resize(m, n);
  } else if (C.rows() != m || C.cols() != n) {
    throw Error("cpu gemm: C is " + shape_str(C.rows(), C.cols()) + ", op(A) op(B) is " + shape_str(m, n));
  }
  if (m == 0 || n == 0) return;
  if (k == 0) {  // BLAS would leave C = beta C; say it explicitly (beta == 0 must not read C)
    if (beta == T(0)) C.setZero();
    else C *= beta;
    return;
  }
  Timer t;
  gemm_cm(trans_a, trans_b, dim(m, "m"), dim(n, "n"), dim(k, "k"), alpha, A.data(), dim(std::max<Index>(1, A.rows()), "lda"),
          B.data(), dim(std::max<Index>(1, B.rows()), "ldb"), beta, C.data(), dim(m, "ldc"));
  auto& ks = stats_.kernels["gemm"];
  ks.flops += 2.0 * double(m) * double(n) * double(k);  // MAGMA: FLOPS_DGEMM = 2 m n k (real)
  ks.seconds += t.seconds(); ++ks.calls;
}

template class CpuBackend<float>;
template class CpuBackend<double>;

void set_cpu_threads(int threads) {
  if (threads > 0) openblas_set_num_threads(threads);
}
int cpu_threads() { return openblas_get_num_threads(); }
std::string blas_config() { return openblas_get_config(); }
std::string blas_kernel() { return openblas_get_corename(); }

}  // namespace lowrank
