#include "two_stage_values.hpp"

#include <lapacke.h>

#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "lowrank/core/error.hpp"

namespace lowrank::detail {
namespace {

// ---- float / double dispatch (the _work forms: no LAPACKE allocation, no O(mn) NaN scan per call)
inline lapack_int geqrt(lapack_int m, lapack_int n, lapack_int nb, float* a, lapack_int lda, float* t,
                        lapack_int ldt, float* work) {
  return LAPACKE_sgeqrt_work(LAPACK_COL_MAJOR, m, n, nb, a, lda, t, ldt, work);
}
inline lapack_int geqrt(lapack_int m, lapack_int n, lapack_int nb, double* a, lapack_int lda, double* t,
                        lapack_int ldt, double* work) {
  return LAPACKE_dgeqrt_work(LAPACK_COL_MAJOR, m, n, nb, a, lda, t, ldt, work);
}
// Q^T C (side L, trans T) or C Q (side R, trans N), Q = I - V T V^T, V stored by columns, forward.
inline lapack_int larfb(char side, char trans, lapack_int m, lapack_int n, lapack_int k, const float* v,
                        lapack_int ldv, const float* t, lapack_int ldt, float* c, lapack_int ldc, float* work,
                        lapack_int ldwork) {
  return LAPACKE_slarfb_work(LAPACK_COL_MAJOR, side, trans, 'F', 'C', m, n, k, v, ldv, t, ldt, c, ldc, work, ldwork);
}
inline lapack_int larfb(char side, char trans, lapack_int m, lapack_int n, lapack_int k, const double* v,
                        lapack_int ldv, const double* t, lapack_int ldt, double* c, lapack_int ldc, double* work,
                        lapack_int ldwork) {
  return LAPACKE_dlarfb_work(LAPACK_COL_MAJOR, side, trans, 'F', 'C', m, n, k, v, ldv, t, ldt, c, ldc, work, ldwork);
}
inline lapack_int gbbrd(lapack_int n, lapack_int ku, float* ab, lapack_int ldab, float* d, float* e, float* work) {
  float dummy = 0;
  return LAPACKE_sgbbrd_work(LAPACK_COL_MAJOR, 'N', n, n, 0, 0, ku, ab, ldab, d, e, &dummy, 1, &dummy, 1, &dummy, 1,
                             work);
}
inline lapack_int gbbrd(lapack_int n, lapack_int ku, double* ab, lapack_int ldab, double* d, double* e, double* work) {
  double dummy = 0;
  return LAPACKE_dgbbrd_work(LAPACK_COL_MAJOR, 'N', n, n, 0, 0, ku, ab, ldab, d, e, &dummy, 1, &dummy, 1, &dummy, 1,
                             work);
}
inline lapack_int bdsqr(lapack_int n, float* d, float* e, float* work) {
  float dummy = 0;
  return LAPACKE_sbdsqr_work(LAPACK_COL_MAJOR, 'U', n, 0, 0, 0, d, e, &dummy, 1, &dummy, 1, &dummy, 1, work);
}
inline lapack_int bdsqr(lapack_int n, double* d, double* e, double* work) {
  double dummy = 0;
  return LAPACKE_dbdsqr_work(LAPACK_COL_MAJOR, 'U', n, 0, 0, 0, d, e, &dummy, 1, &dummy, 1, &dummy, 1, work);
}

void check(lapack_int info, const char* routine) {
  if (info != 0)
    throw Error(std::string("cpu backend: ") + routine + " rejected its arguments (info = " + std::to_string(info) +
                ") in the two-stage singular values");
}

// Stage 1 on a tall (m >= n) A: on exit its leading n x n block is upper triangular with `b`
// superdiagonals (entries below the diagonal and right of the band are left as workspace).
template <class T> void reduce_to_band(Mat<T>& A, lapack_int b) {
  const lapack_int m = lapack_int(A.rows()), n = lapack_int(A.cols()), lda = m;
  std::vector<T> Tf(std::size_t(b) * b), work(std::size_t(b) * std::max(m, n)), P(std::size_t(n) * b);
  T* a = A.data();
  for (lapack_int k = 0; k < n; k += b) {
    const lapack_int kb = std::min(b, n - k), rest = n - k - kb;
    // QR of the column panel A(k:m, k:k+kb); Q^T to the columns right of it.
    T* Ak = a + k + std::size_t(k) * lda;
    check(geqrt(m - k, kb, kb, Ak, lda, Tf.data(), b, work.data()), "?geqrt");
    if (rest == 0) break;
    T* right = Ak + std::size_t(kb) * lda;  // A(k:m, k+kb:n)
    check(larfb('L', 'T', m - k, rest, kb, Ak, lda, Tf.data(), b, right, lda, work.data(), rest), "?larfb");
    // LQ of the row panel A(k:k+kb, k+kb:n) as the QR of its transpose P (rest x kb, contiguous);
    // Q from the right to the rows below it, A(k+kb:m, k+kb:n).
    for (lapack_int i = 0; i < kb; ++i)
      for (lapack_int j = 0; j < rest; ++j) P[std::size_t(j) + std::size_t(i) * rest] = right[i + std::size_t(j) * lda];
    // When rest < kb, P is wide: rest reflectors, and they transform all kb columns of P.
    const lapack_int kk = std::min(kb, rest);
    check(geqrt(rest, kb, kk, P.data(), rest, Tf.data(), b, work.data()), "?geqrt");
    if (m - k - kb > 0)
      check(larfb('R', 'N', m - k - kb, rest, kk, P.data(), rest, Tf.data(), b, right + kb, lda, work.data(),
                  m - k - kb),
            "?larfb");
    // The row panel becomes [L 0], L = (the transposed panel's R)^T, kb x kk lower trapezoidal.
    for (lapack_int i = 0; i < kb; ++i)
      for (lapack_int j = 0; j < rest; ++j)
        right[i + std::size_t(j) * lda] = (j <= i && j < kk) ? P[std::size_t(j) + std::size_t(i) * rest] : T(0);
  }
}

}  // namespace

template <class T> Vec<T> two_stage_singular_values(Mat<T>& A, Index band) {
  if (A.rows() > INT_MAX || A.cols() > INT_MAX)
    throw Error("cpu backend: a " + std::to_string(A.rows()) + " x " + std::to_string(A.cols()) +
                " matrix does not fit LAPACK's 32-bit integers");
  if (A.rows() < A.cols()) A.transposeInPlace();  // the same values; stage 1 wants m >= n
  const lapack_int n = lapack_int(A.cols());
  if (n == 0) return Vec<T>(0);
  const lapack_int b = lapack_int(std::clamp<Index>(band, 1, std::max<Index>(n - 1, 1)));
  reduce_to_band(A, b);
  // Band storage of the leading n x n block (kl = 0, ku = b): ab(b + i - j, j) = A(i, j).
  const lapack_int ku = std::min(b, n - 1), ldab = ku + 1;
  std::vector<T> ab(std::size_t(ldab) * n, T(0));
  for (lapack_int j = 0; j < n; ++j)
    for (lapack_int i = std::max(0, j - ku); i <= j; ++i) ab[std::size_t(ku + i - j) + std::size_t(j) * ldab] = A(i, j);
  Vec<T> d(n);
  std::vector<T> e(std::size_t(std::max(n - 1, 1))), work(std::size_t(4) * n);
  check(gbbrd(n, ku, ab.data(), ldab, d.data(), e.data(), work.data()), "?gbbrd");
  const lapack_int info = bdsqr(n, d.data(), e.data(), work.data());
  if (info > 0)
    throw Breakdown("cpu backend: ?bdsqr did not converge (info = " + std::to_string(info) + ") on the " +
                    std::to_string(n) + " x " + std::to_string(n) + " bidiagonal of the two-stage singular values");
  check(info, "?bdsqr");
  return d;  // ?bdsqr: non-negative, descending
}

template Vec<float> two_stage_singular_values<float>(Mat<float>&, Index);
template Vec<double> two_stage_singular_values<double>(Mat<double>&, Index);

}  // namespace lowrank::detail
