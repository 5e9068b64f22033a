#include "lowrank/reference/backend.hpp"
#include "lowrank/reference/svd.hpp"

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>
#include <Eigen/LU>
#include <Eigen/QR>
#include <Eigen/SVD>

#include "lowrank/core/error.hpp"
#include "mpfr_block.hpp"

#include <mpfr.h>

#include <algorithm>
#include <vector>

namespace lowrank {

void set_reference_bits(int bits) {
  if (bits < 64 || bits > 4096)
    throw Error("--bits must be between 64 and 4096, got " + std::to_string(bits));
  mpreal::set_default_prec(bits);
}

int reference_bits() { return int(mpreal::get_default_prec()); }

ReferencePrecision::ReferencePrecision(int bits) : bits_(bits), saved_(long(mpreal::get_default_prec())) {
  set_reference_bits(bits);
}
ReferencePrecision::ReferencePrecision()
    : bits_(int(mpreal::get_default_prec())), saved_(long(mpreal::get_default_prec())) {}
ReferencePrecision::~ReferencePrecision() { mpreal::set_default_prec(mpfr_prec_t(saved_)); }

namespace {
using reference_detail::MpfrBlock;
using reference_detail::MpfrScalars;

bool strictly_lower_is_zero(const MatrixMP& R) {
  for (Index j = 0; j < R.cols(); ++j)
    for (Index i = j + 1; i < R.rows(); ++i)
      if (!mpfr_zero_p(R(i, j).mpfr_srcptr())) return false;
  return true;
}

}  // namespace

// Householder QR of S = [R; rows] in place on an MpfrBlock, with the reflector convention of
// LAPACK's dlarfg / Eigen's makeHouseholder (beta = -sign(alpha) ||x||, tau = (beta - alpha) / beta,
// v = x / (alpha - beta) with v_0 = 1; tau = 0 when the tail is zero).
//
// Structure (LAPACK tpqrt): when the top k rows form an upper-triangular R, column j of S is zero
// in rows j+1 .. k-1, and reflector j only combines row j with the rows k .. p-1, so those rows
// are skipped: 2 b n^2 flops per update instead of 2 (k + b) n^2 - ... for a dense QR.
// Inner loops are mpfr_fma on preallocated numbers: w = S(j, c) + sum_i v_i S(i, c), then
// S(i, c) = S(i, c) - (tau w) v_i.
MatrixMP ReferenceBackend::stack_r(const MatrixMP& R, const MatrixMP& rows) {
  const Index n = rows.cols();
  if (R.rows() > 0 && R.cols() != n)
    throw Error("stack_r: R has " + std::to_string(R.cols()) + " columns, the rows have " + std::to_string(n));
  const Index k = R.rows(), b = rows.rows(), p = k + b;
  const Index kstruct = strictly_lower_is_zero(R) ? k : 0;  // rows j+1 .. kstruct-1 known zero
  const mpfr_prec_t prec = mpreal::get_default_prec();
  const mpfr_rnd_t rnd = MPFR_RNDN;
  MpfrBlock S(p, n, prec);
  for (Index j = 0; j < n; ++j) {
    for (Index i = 0; i < k; ++i) mpfr_set(S(i, j), R(i, j).mpfr_srcptr(), rnd);
    for (Index i = 0; i < b; ++i) mpfr_set(S(k + i, j), rows(i, j).mpfr_srcptr(), rnd);
  }
  MpfrScalars sc(prec);
  mpfr_ptr norm = sc.v[0], tau = sc.v[1], w = sc.v[2], scal = sc.v[3];
  std::vector<mpfr_ptr> x;  // the column's alpha and the reflector's tail
  const Index steps = std::min(p, n);
  for (Index j = 0; j < steps; ++j) {
    const Index t0 = std::max(kstruct, j + 1);  // first row of the reflector's tail
    x.assign(1, S(j, j));
    for (Index i = t0; i < p; ++i) x.push_back(S(i, j));
    reference_detail::householder(x, tau, norm, scal);
    if (mpfr_zero_p(tau)) continue;  // H = I
    for (Index c = j + 1; c < n; ++c) {
      mpfr_set(w, S(j, c), rnd);
      for (Index i = t0; i < p; ++i) mpfr_fma(w, S(i, j), S(i, c), w, rnd);
      mpfr_mul(w, w, tau, rnd);
      mpfr_neg(w, w, rnd);
      mpfr_add(S(j, c), S(j, c), w, rnd);
      for (Index i = t0; i < p; ++i) mpfr_fma(S(i, c), w, S(i, j), S(i, c), rnd);
    }
  }
  MatrixMP out = MatrixMP::Zero(steps, n);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i <= std::min(j, steps - 1); ++i) mpfr_set(out(i, j).mpfr_ptr(), S(i, j), rnd);
  return out;
}

// Golub-Kahan-Reinsch on the in-place kernels (svd.cpp). It replaced Eigen's BDCSVD<mpreal>,
// which ran at 27-43 % of the MPFR multiply-add limit and returned a wrong decomposition when
// singular values were exactly repeated (corpus case tie_at_cut_r4), behind an O(m n^2) residual
// check and a JacobiSVD fallback.
ThinSvd<mpreal> ReferenceBackend::svd(const MatrixMP& M) { return golub_kahan_svd(M); }

SymEig<mpreal> ReferenceBackend::eigh(const MatrixMP& G) {
  Eigen::SelfAdjointEigenSolver<MatrixMP> e(G);
  if (e.info() != Eigen::Success) throw Breakdown("reference eigh did not converge");
  return {e.eigenvalues(), e.eigenvectors()};
}

bool ReferenceBackend::cholesky_lower(const MatrixMP& G, MatrixMP& L) {
  Eigen::LLT<MatrixMP> llt(G);
  if (llt.info() != Eigen::Success) return false;
  L = llt.matrixL();
  return true;
}

void ReferenceBackend::gemm(bool trans_a, bool trans_b, const mpreal& alpha, const MatrixMP& A, const MatrixMP& B,
                            const mpreal& beta, MatrixMP& C) {
  const Index m = trans_a ? A.cols() : A.rows(), k = trans_a ? A.rows() : A.cols();
  const Index kb = trans_b ? B.cols() : B.rows(), n = trans_b ? B.rows() : B.cols();
  if (k != kb) throw Error("reference gemm: op(A) is " + shape_str(m, k) + " but op(B) is " + shape_str(kb, n));
  if (C.size() > 0 && (C.data() == A.data() || C.data() == B.data()))
    throw Error("reference gemm: C shares storage with A or B");
  const bool accumulate = beta != 0;
  if (accumulate && (C.rows() != m || C.cols() != n))
    throw Error("reference gemm: C is " + shape_str(C.rows(), C.cols()) + ", op(A) op(B) is " + shape_str(m, n));
  MatrixMP P(m, n);
  if (k == 0) P.setZero();
  else if (!trans_a && !trans_b) P.noalias() = A * B;
  else if (trans_a && !trans_b) P.noalias() = A.transpose() * B;
  else if (!trans_a && trans_b) P.noalias() = A * B.transpose();
  else P.noalias() = A.transpose() * B.transpose();
  if (alpha != 1) P *= alpha;
  if (!accumulate) {
    C = std::move(P);
  } else {
    if (beta != 1) C *= beta;
    C += P;
  }
}

MatrixMP ReferenceBackend::inverse(const MatrixMP& M) { return Eigen::PartialPivLU<MatrixMP>(M).inverse(); }

}  // namespace lowrank
