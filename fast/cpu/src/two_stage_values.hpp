#pragma once
// Singular values without vectors by a two-stage reduction (CpuBackend::singular_values, used for
// the numerical rank of X from R). ?gesdd with jobz = N reduces to bidiagonal form by ?gebrd, half
// of whose 8/3 n^3 flops are matrix-vector products running at memory speed: at n = 4096 on the
// 2-core VM it takes 15 s of a 64 s solve (bench/results/cpu.md). Here the same reduction is done
// in two stages, as PLASMA and MAGMA do for the SVD and LAPACK's ?sytrd_2stage for the symmetric
// eigenproblem:
//   1. to upper band form of bandwidth b, by alternating a QR of a column panel (?geqrt, applied
//      to the trailing columns by ?larfb from the left) and an LQ of the row panel to its right
//      (the QR of its transpose, ?geqrt on a contiguous copy, applied by ?larfb from the right):
//      all of the O(n^3) work is in level-3 BLAS, panels of b;
//   2. band to bidiagonal by ?gbbrd (Givens bulge chasing, O(n^2 b), no vectors), then the values
//      of the bidiagonal by ?bdsqr without vectors (dqds, ?lasq1: high relative accuracy for the
//      bidiagonal).
// Every transformation is orthogonal, so the values are those of A + dA with ||dA||_F <= c n u
// ||A||_F, and each moves by at most that (Weyl): the same bound as ?gesdd's, tested against it in
// tests/cpu/svd_values_kernel_test.cpp.
#include "lowrank/core/matrix.hpp"

namespace lowrank::detail {

// The singular values of the m x n matrix A (overwritten), descending, with stage 1 of bandwidth
// `band` (>= 1). Throws Breakdown when ?bdsqr does not converge and Error when LAPACK rejects an
// argument (a bug).
template <class T> Vec<T> two_stage_singular_values(Mat<T>& A, Index band);

}  // namespace lowrank::detail
