#pragma once
// The reference backend's SVD: Golub-Kahan-Reinsch on in-place MPFR kernels (reference/src/svd.cpp),
// at the current MPFR precision. Thin: U (m x k), s (k, descending, >= 0), V (n x k), k = min(m, n).
// Throws Error on NaN/Inf input, Breakdown if the bidiagonal QR iteration does not converge.
#include "lowrank/core/backend.hpp"
#include "lowrank/reference/mp.hpp"

namespace lowrank {

ThinSvd<mpreal> golub_kahan_svd(const MatrixMP& M);

}  // namespace lowrank
