#pragma once
// The arbitrary-precision backend: every operation in MPFR at the precision set by
// set_reference_bits(). Ground truth for the fast backends.
#include <string>

#include "lowrank/core/driver.hpp"
#include "lowrank/reference/mp.hpp"

namespace lowrank {

class ReferenceBackend {
 public:
  using Scalar = mpreal;
  std::string name() const { return "reference"; }
  std::string precision() const { return "mpfr" + std::to_string(reference_bits()); }

  MatrixMP accumulate_r(RowBlockSource& X, Index block_rows) { return stream_r(*this, X, block_rows); }
  MatrixMP accumulate_gram(RowBlockSource& X, Index block_rows) { return stream_gram(*this, X, block_rows); }
  // qr_R([R; rows]): Householder QR of the stack, upper triangle of the top min(k + b, n) rows.
  MatrixMP stack_r(const MatrixMP& R, const MatrixMP& rows);
  ThinSvd<mpreal> svd(const MatrixMP& M);
  SymEig<mpreal> eigh(const MatrixMP& G);
  bool cholesky_lower(const MatrixMP& G, MatrixMP& L);
  MatrixMP inverse(const MatrixMP& M);
};

}  // namespace lowrank
