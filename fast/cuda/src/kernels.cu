#include "kernels.hpp"

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

unsigned grid1(std::int64_t n, unsigned block) { return unsigned((n + block - 1) / block); }

}  // namespace

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

template void take_upper<float>(const float*, std::int64_t, std::int64_t, float*, std::int64_t, std::int64_t,
                                std::int64_t, cudaStream_t);
template void take_upper<double>(const double*, std::int64_t, std::int64_t, double*, std::int64_t, std::int64_t,
                                 std::int64_t, cudaStream_t);
template void add_diagonal<float>(float*, std::int64_t, std::int64_t, float, cudaStream_t);
template void add_diagonal<double>(double*, std::int64_t, std::int64_t, double, cudaStream_t);
template void fill_pattern<float>(float*, std::int64_t, std::uint64_t, cudaStream_t);
template void fill_pattern<double>(double*, std::int64_t, std::uint64_t, cudaStream_t);

}  // namespace lowrank::cuda_kernels
