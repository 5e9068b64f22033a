#pragma once
// The arbitrary-precision backend: every operation in MPFR at its precision. Ground truth for the
// fast backends. `ReferenceBackend be(bits)` holds that precision for its lifetime (a
// ReferencePrecision scope: numbers made while it lives, the caller's to_mp(W) included, carry
// `bits`; the enclosing precision comes back when it ends); `ReferenceBackend be;` works at the
// precision current when it is made.
#include <string>

#include "lowrank/core/driver.hpp"
#include "lowrank/reference/mp.hpp"

namespace lowrank {

class ReferenceBackend : public HostMatrixOps<mpreal> {
 public:
  using Scalar = mpreal;
  ReferenceBackend() : precision_(ReferencePrecision::current()) {}
  explicit ReferenceBackend(int bits) : precision_(bits) {}
  std::string name() const { return "reference"; }
  std::string precision() const { return "mpfr" + std::to_string(precision_.bits()); }
  int bits() const { return precision_.bits(); }

  MatrixMP accumulate_r(RowBlockSource& X, Index block_rows) { return stream_r(*this, X, block_rows); }
  MatrixMP accumulate_gram(RowBlockSource& X, Index block_rows) { return stream_gram(*this, X, block_rows); }
  // qr_R([R; rows]): Householder QR of the stack, upper triangle of the top min(k + b, n) rows.
  MatrixMP stack_r(const MatrixMP& R, const MatrixMP& rows);
  ThinSvd<mpreal> svd(const MatrixMP& M);
  SymEig<mpreal> eigh(const MatrixMP& G);
  bool cholesky_lower(const MatrixMP& G, MatrixMP& L);
  MatrixMP inverse(const MatrixMP& M);
  // C = alpha op(A) op(B) + beta C by Eigen's product over mpreal (every product rounded at the
  // working precision). Same contract as CpuBackend::gemm: beta == 0 resizes C and never reads
  // it; C must not share storage with A or B.
  void gemm(bool trans_a, bool trans_b, const mpreal& alpha, const MatrixMP& A, const MatrixMP& B,
            const mpreal& beta, MatrixMP& C);

 private:
  ReferencePrecision precision_;
};
static_assert(check_solve_backend<ReferenceBackend>() && check_train_backend<ReferenceBackend>());

}  // namespace lowrank
