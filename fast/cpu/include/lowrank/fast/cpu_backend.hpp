#pragma once
// The float32 / float64 CPU backend: LAPACK (through LAPACKE) and CBLAS, as shipped by OpenBLAS.
// It satisfies the backend seam of lowrank/core/backend.hpp (asserted below), so the one
// driver `lowrank::solve` runs every method (coala, limit, svd-llm, svd-llm-v2, pinv, damped)
// over it; nothing here knows about methods.
//
//   accumulate_r     streaming TSQR: R_i = qr_R([R_{i-1}; X_i^T]) from R_0 = 0, every block
//                    by ?tpqrt's algorithm (triangle on top of a dense block, l = 0) with its panels
//                    factored recursively in level-3 BLAS (TpqrtKernel), R kept n x n in place;
//                    memory O(n^2 + block * n) whatever N is. With CpuOptions::in_memory_qr the
//                    whole X^T (N x n) is loaded and factored by one ?geqrf (for comparison).
//   accumulate_gram  G = sum_i X_i X_i^T by ?syrk, accumulated in T (as the Gram-based codes do).
//   stack_r          qr_R([R; rows]) by ?tpqrt (l = n when `rows` is upper triangular, e.g. the
//                    sqrt(mu) I of the regularization), ?geqrf of the stack when R is not n x n.
//   svd              ?gesdd, thin; LAPACK's info is recorded and info != 0 throws lowrank::Error.
//   singular_values  no vectors: ?gesdd (jobz = N) for small matrices, a two-stage reduction
//                    (band form in level-3 BLAS, then ?gbbrd + ?bdsqr) from kTwoStageValuesMin on.
//   eigh             ?syevd (ascending); info != 0 throws.
//   cholesky_lower   ?potrf (lower); false on breakdown (info > 0), as torch.linalg.cholesky fails.
//   inverse          ?getrf + ?getri (explicit inverse, as torch.linalg.inv); singular throws.
//   gemm             C = alpha op(A) op(B) + beta C by cblas_?gemm (OpenBLAS, threaded): every
//                    product of the driver (W R^T, A^T W, the report's E R^T, ...) and of the
//                    deep-factorization trainer (dynamics/).
//
// Every LAPACK/BLAS call is timed and its nominal flop count (MAGMA testing/flops.h for the
// factorizations, Golub & Van Loan's counts for the SVD and the symmetric eigensolver) added to
// stats(), from which `lowrank solve --backend cpu` reports GFLOP/s.
#include <cstddef>
#include <map>
#include <string>
#include <type_traits>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/scalar.hpp"

namespace lowrank {

// The kernel of the streaming TSQR's update qr_R([R; X_i^T]): the same Householder reflectors
// either way (the same backward error bound), different speed (bench/results/cpu.md).
enum class TpqrtKernel {
  recursive_panel,  // panels of nb columns factored recursively in level-3 BLAS, trailing by ?tprfb
  lapack,           // LAPACK's ?tpqrt (panels by ?tpqrt2, level 2)
};

// The kernel of singular_values (no vectors: the numerical rank of X from R): the same backward
// error bound either way (orthogonal transformations only), different speed.
enum class SvdValuesKernel {
  automatic,  // two_stage when min(m, n) >= kTwoStageValuesMin, gesdd below
  gesdd,      // ?gesdd, jobz = N (one-stage ?gebrd: half its flops in matrix-vector products)
  two_stage,  // band reduction in level-3 BLAS, then ?gbbrd + ?bdsqr (src/two_stage_values.hpp)
};
// Where the two-stage reduction starts to win, measured on the 2-core VM (bench/results/cpu.md):
// at n = 1024 both take ~0.15-0.25 s; at n = 2048 the two-stage one 1.1 s against 1.7 s, at
// n = 4096 6.6 s against 14.5 s.
inline constexpr Index kTwoStageValuesMin = 1024;

struct CpuOptions {
  bool in_memory_qr = false;  // accumulate_r: one geqrf of the whole X^T instead of streaming TSQR
  TpqrtKernel tpqrt = TpqrtKernel::recursive_panel;
  Index tpqrt_nb = 0;         // panel width; 0 picks min(n, 256) (recursive panel), min(n, 64) (?tpqrt)
  SvdValuesKernel values_kernel = SvdValuesKernel::automatic;
  Index values_band = 0;      // two-stage bandwidth; 0 picks 32 for min(m, n) <= 2048, 48 above
};

struct CpuKernelStats {
  double flops = 0;    // nominal flop count, summed over calls
  double seconds = 0;  // wall time inside LAPACK/BLAS, summed over calls
  long calls = 0;
};

struct CpuStats {
  std::map<std::string, CpuKernelStats> kernels;  // "geqrf", "tpqrt", "syrk", "gesdd", ...
  int last_lapack_info = 0;       // info of the most recent LAPACK call
  Index tokens = 0;               // tokens read by the last accumulate_*
  std::size_t accumulate_bytes = 0;  // bytes held by the last accumulate_* (R or G, block, work)
  double accumulate_flops = 0;    // nominal flops of the last accumulate_* (TSQR: 2Nn^2 - 2n^3/3)
};

template <class T> class CpuBackend : public HostMatrixOps<T> {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "CpuBackend<float> or <double>");

 public:
  using Scalar = T;
  explicit CpuBackend(CpuOptions opt = {}) : opt_(opt) {}
  std::string name() const { return "cpu"; }
  std::string precision() const { return ScalarTraits<T>::name(); }

  Mat<T> accumulate_r(RowBlockSource& X, Index block_rows);
  Mat<T> accumulate_gram(RowBlockSource& X, Index block_rows);
  Mat<T> stack_r(const Mat<T>& R, const Mat<T>& rows);
  ThinSvd<T> svd(const Mat<T>& M);
  SymEig<T> eigh(const Mat<T>& G);
  Vec<T> singular_values(const Mat<T>& M);  // no vectors: ?gesdd jobz = N or two-stage (SvdValuesKernel)
  Vec<T> eigenvalues(const Mat<T>& G);      // ?syevd, jobz = N: no vectors
  bool cholesky_lower(const Mat<T>& G, Mat<T>& L);
  Mat<T> inverse(const Mat<T>& M);
  // C = alpha op(A) op(B) + beta C, op(X) = X or X^T. With beta == 0, C is resized to the
  // product's shape and its old contents are never read (not even NaN); otherwise its shape must
  // match. C must not share storage with A or B. Shape errors throw lowrank::Error.
  void gemm(bool trans_a, bool trans_b, T alpha, const Mat<T>& A, const Mat<T>& B, T beta, Mat<T>& C);

  const CpuOptions& options() const { return opt_; }
  CpuOptions& options() { return opt_; }
  const CpuStats& stats() const { return stats_; }
  void reset_stats() { stats_ = CpuStats{}; }

 private:
  ThinSvd<T> svd_impl(const Mat<T>& M, bool vectors);
  SymEig<T> eigh_impl(const Mat<T>& G, bool vectors);
  CpuOptions opt_;
  CpuStats stats_;
};

extern template class CpuBackend<float>;
extern template class CpuBackend<double>;
static_assert(check_solve_backend<CpuBackend<float>>() && check_train_backend<CpuBackend<float>>());
static_assert(check_solve_backend<CpuBackend<double>>() && check_train_backend<CpuBackend<double>>());

// Threads OpenBLAS may use (openblas_set_num_threads); <= 0 leaves OpenBLAS's default.
void set_cpu_threads(int threads);
int cpu_threads();
// What OpenBLAS says of itself: its build ("OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Haswell
// MAX_THREADS=64") and the kernel it picked for this CPU at start-up ("Haswell"; OPENBLAS_CORETYPE
// overrides it in a DYNAMIC_ARCH build). The bits of every result depend on the kernel.
std::string blas_config();
std::string blas_kernel();

}  // namespace lowrank
