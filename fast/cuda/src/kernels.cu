#include "kernels.hpp"

#include <algorithm>

namespace lowrank::cuda_kernels {
namespace {

template <class T>
__global__ void take_upper_kernel(const T* src, std::int64_t lds, std::int64_t k, T* dst, std::int64_t ldd,
                                  std::int64_t rows, std::int64_t cols) {
  const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t j = std::int64_t(blockIdx.y) * blockDim.y + threadIdx.y;
  if (i >= rows || j >= cols) return;
  const T v = (i <= j && i < k) ? src[i + j * lds] : T(0);
  dst[i + j * ldd] = v;
}

template <class T> __global__ void add_diagonal_kernel(T* A, std::int64_t lda, std::int64_t n, T value) {
  const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) A[i + i * lda] += value;
}

template <class T> __global__ void fill_pattern_kernel(T* a, std::int64_t count, std::uint64_t seed) {
  const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  std::uint64_t x = std::uint64_t(i) * 0x9E3779B97F4A7C15ull + seed;  // splitmix64
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  x ^= x >> 31;
  a[i] = T(double(x >> 11) * 0x1p-52 - 1.0);
}

template <class T>
__global__ void symmetric_from_lower_kernel(const T* src, std::int64_t lds, T* dst, std::int64_t ldd, std::int64_t n) {
  const std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  const std::int64_t j = std::int64_t(blockIdx.y) * blockDim.y + threadIdx.y;
  if (i >= n || j >= n) return;
  dst[i + j * ldd] = i >= j ? src[i + j * lds] : src[j + i * lds];
}

constexpr int norm_threads = 256;
template <class T>
__global__ void column_sq_norms_kernel(const T* A, std::int64_t rows, std::int64_t lda, double* out) {
  const std::int64_t j = blockIdx.x;
  double acc = 0;
  for (std::int64_t i = threadIdx.x; i < rows; i += blockDim.x) {
    const double v = double(A[i + j * lda]);
    acc += v * v;
  }
  __shared__ double part[norm_threads];
  part[threadIdx.x] = acc;
  __syncthreads();
  for (int s = norm_threads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) part[threadIdx.x] += part[threadIdx.x + s];
    __syncthreads();
  }
  if (threadIdx.x == 0) out[j] = part[0];
}

template <class T> __global__ void count_nonfinite_kernel(const T* a, std::int64_t count, unsigned long long* out) {
  unsigned long long c = 0;
  for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += std::int64_t(gridDim.x) * blockDim.x)
    if (!isfinite(a[i])) ++c;
  if (c) atomicAdd(out, c);
}

unsigned grid1(std::int64_t n, unsigned block) { return unsigned((n + block - 1) / block); }

constexpr int residual_threads = 256;
template <class T>
__global__ void masked_residual_kernel(const T* p, const T* phi, const T* m, T c, T* e, std::int64_t count,
                                       double* partial) {
  double seen = 0, unseen = 0;
  for (std::int64_t k = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; k < count;
       k += std::int64_t(gridDim.x) * blockDim.x) {
    const T x = p[k] - phi[k];
    const T mx = m ? m[k] * x : x;  // m is exactly 0 or 1
    e[k] = c * mx;
    seen += double(mx) * double(x);
    unseen += double(x - mx) * double(x);
  }
  __shared__ double part[2][residual_threads];
  part[0][threadIdx.x] = seen;
  part[1][threadIdx.x] = unseen;
  __syncthreads();
  for (int s = residual_threads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) {
      part[0][threadIdx.x] += part[0][threadIdx.x + s];
      part[1][threadIdx.x] += part[1][threadIdx.x + s];
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    partial[2 * blockIdx.x] = part[0][0];
    partial[2 * blockIdx.x + 1] = part[1][0];
  }
}

}  // namespace

unsigned residual_blocks(std::int64_t count) {
  return count <= 0 ? 0u : std::min<unsigned>(grid1(count, residual_threads), 1024u);
}

template <class T>
void masked_residual(const T* p, const T* phi, const T* m, T c, T* e, std::int64_t count, double* partial,
                     cudaStream_t stream) {
  if (count <= 0) return;
  masked_residual_kernel<T><<<residual_blocks(count), residual_threads, 0, stream>>>(p, phi, m, c, e, count, partial);
}

template <class T>
void take_upper(const T* src, std::int64_t lds, std::int64_t k, T* dst, std::int64_t ldd, std::int64_t rows,
                std::int64_t cols, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const dim3 block(32, 8);
  const dim3 grid(unsigned((rows + 31) / 32), unsigned((cols + 7) / 8));
  take_upper_kernel<T><<<grid, block, 0, stream>>>(src, lds, k, dst, ldd, rows, cols);
}

template <class T> void add_diagonal(T* A, std::int64_t lda, std::int64_t n, T value, cudaStream_t stream) {
  if (n <= 0) return;
  add_diagonal_kernel<T><<<grid1(n, 256), 256, 0, stream>>>(A, lda, n, value);
}

template <class T> void fill_pattern(T* a, std::int64_t count, std::uint64_t seed, cudaStream_t stream) {
  if (count <= 0) return;
  fill_pattern_kernel<T><<<grid1(count, 256), 256, 0, stream>>>(a, count, seed);
}

template <class T>
void symmetric_from_lower(const T* src, std::int64_t lds, T* dst, std::int64_t ldd, std::int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  const dim3 block(32, 8);
  const dim3 grid(unsigned((n + 31) / 32), unsigned((n + 7) / 8));
  symmetric_from_lower_kernel<T><<<grid, block, 0, stream>>>(src, lds, dst, ldd, n);
}

template <class T>
void column_sq_norms(const T* A, std::int64_t rows, std::int64_t cols, std::int64_t lda, double* out,
                     cudaStream_t stream) {
  if (cols <= 0) return;
  column_sq_norms_kernel<T><<<unsigned(cols), norm_threads, 0, stream>>>(A, rows, lda, out);
}

template <class T>
void count_nonfinite(const T* a, std::int64_t count, unsigned long long* out, cudaStream_t stream) {
  if (count <= 0) return;
  const unsigned blocks = std::min<unsigned>(grid1(count, 256), 1024u);
  count_nonfinite_kernel<T><<<blocks, 256, 0, stream>>>(a, count, out);
}

template void take_upper<float>(const float*, std::int64_t, std::int64_t, float*, std::int64_t, std::int64_t,
                                std::int64_t, cudaStream_t);
template void take_upper<double>(const double*, std::int64_t, std::int64_t, double*, std::int64_t, std::int64_t,
                                 std::int64_t, cudaStream_t);
template void add_diagonal<float>(float*, std::int64_t, std::int64_t, float, cudaStream_t);
template void add_diagonal<double>(double*, std::int64_t, std::int64_t, double, cudaStream_t);
template void symmetric_from_lower<float>(const float*, std::int64_t, float*, std::int64_t, std::int64_t, cudaStream_t);
template void symmetric_from_lower<double>(const double*, std::int64_t, double*, std::int64_t, std::int64_t,
                                           cudaStream_t);
template void column_sq_norms<float>(const float*, std::int64_t, std::int64_t, std::int64_t, double*, cudaStream_t);
template void column_sq_norms<double>(const double*, std::int64_t, std::int64_t, std::int64_t, double*, cudaStream_t);
template void count_nonfinite<float>(const float*, std::int64_t, unsigned long long*, cudaStream_t);
template void count_nonfinite<double>(const double*, std::int64_t, unsigned long long*, cudaStream_t);
template void masked_residual<float>(const float*, const float*, const float*, float, float*, std::int64_t, double*,
                                     cudaStream_t);
template void masked_residual<double>(const double*, const double*, const double*, double, double*, std::int64_t,
                                      double*, cudaStream_t);
template void fill_pattern<float>(float*, std::int64_t, std::uint64_t, cudaStream_t);
template void fill_pattern<double>(double*, std::int64_t, std::uint64_t, cudaStream_t);

}  // namespace lowrank::cuda_kernels
