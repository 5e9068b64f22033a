#pragma once
// The few element-wise device kernels the backend needs (everything else is cuBLAS/cuSOLVER).
#include <cstdint>

#include <cuda_runtime.h>

namespace lowrank::cuda_kernels {

// dst(i, j) = (i <= j && i < k) ? src(i, j) : 0 for 0 <= i < rows, 0 <= j < cols (column-major).
// src == dst (same ld) is allowed: every element is read and written by the same thread.
template <class T>
void take_upper(const T* src, std::int64_t lds, std::int64_t k, T* dst, std::int64_t ldd, std::int64_t rows,
                std::int64_t cols, cudaStream_t stream);

// A(i, i) += value for 0 <= i < n.
template <class T> void add_diagonal(T* A, std::int64_t lda, std::int64_t n, T value, cudaStream_t stream);

// dst (n x n) = the symmetric matrix whose lower triangle is src's (src's strict upper part is
// not read). src == dst is not allowed.
template <class T>
void symmetric_from_lower(const T* src, std::int64_t lds, T* dst, std::int64_t ldd, std::int64_t n, cudaStream_t stream);

// out[j] = sum_i A(i, j)^2 for 0 <= j < cols, summed in double (one thread block per column).
template <class T>
void column_sq_norms(const T* A, std::int64_t rows, std::int64_t cols, std::int64_t lda, double* out,
                     cudaStream_t stream);

// *out += the number of NaN or Inf among a[0 .. count) (*out must be zeroed by the caller).
template <class T>
void count_nonfinite(const T* a, std::int64_t count, unsigned long long* out, cudaStream_t stream);

// The trainer's masked residual (core/backend.hpp masked_residual): e[k] = c m[k] (p[k] - phi[k])
// (m == nullptr: all ones) over k < count, and per thread block the partial sums of
// m (p - phi)^2 and (1 - m) (p - phi)^2 in double, written to partial[2 b], partial[2 b + 1] for
// b < blocks (a fixed grid and a tree in shared memory: the same bits on every run; the caller adds
// the partials in order). blocks = residual_blocks(count).
unsigned residual_blocks(std::int64_t count);
template <class T>
void masked_residual(const T* p, const T* phi, const T* m, T c, T* e, std::int64_t count, double* partial,
                     cudaStream_t stream);

// a[i] = a deterministic pseudo-random value in [-1, 1) (benchmark operands; not zeros, which
// would lower the power draw and flatter the clock).
template <class T> void fill_pattern(T* a, std::int64_t count, std::uint64_t seed, cudaStream_t stream);

}  // namespace lowrank::cuda_kernels
