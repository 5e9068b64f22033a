#pragma once
// The objective of MATH.md 1.1, evaluated in one place for the checker (long double, X streamed),
// the proof checks (MPFR) and the tests (long double):
//
//   f(W')^2 = ||(W - W') X||_F^2 + mu ||W - W'||_F^2      (X in the paper's orientation, n x N)
//
// from E = W - W' held in the evaluation scalar S, with X given as its rows (N x n, one token per
// row: the on-disk orientation), in memory or streamed block by block through the one block loop.
#include <utility>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {

// X's rows in memory, already in S.
template <class S> S objective_squared(const Mat<S>& E, const Mat<S>& X_rows, double mu = 0.0) {
  S f2 = (E * X_rows.transpose()).squaredNorm();
  if (mu > 0) f2 += S(mu) * E.squaredNorm();
  return f2;
}

// X streamed (BlockReader<S>: every block converted exactly from the source's double/float);
// `each_block(block)` sees every block of X's rows, for whatever else the caller gathers in the
// same pass.
template <class S, class EachBlock>
S objective_squared(const Mat<S>& E, RowBlockSource& X, double mu, EachBlock&& each_block, Index block_rows = 8192) {
  BlockReader<S> blocks(X, block_rows);
  Mat<S> block;
  S f2(0);
  while (blocks.next(block)) {
    f2 += objective_squared(E, block);
    each_block(block);
  }
  if (mu > 0) f2 += S(mu) * E.squaredNorm();
  return f2;
}

}  // namespace lowrank
