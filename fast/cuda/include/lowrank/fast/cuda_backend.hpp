#pragma once
// The cuBLAS/cuSOLVER backend (fast/cuda): the backend concept of core/driver.hpp over float and
// double on one NVIDIA GPU, plus the device-resident pieces the benchmarks time separately.
//
//   accumulate_r     streaming TSQR on the device (MATH.md 1.1): token blocks are copied from
//                    pinned host memory on a copy stream while the previous block is factored on
//                    a compute stream (double buffering, ordered by events); R stays on the device;
//                    each step is one cusolverDnXgeqrf (64-bit API) of [R; X_i^T]. Every devInfo is
//                    kept (one slot per block) and checked: a nonzero one throws lowrank::Error.
//   accumulate_gram  the same pipeline with cublas syrk (G += X_i X_i^T) instead of geqrf.
//   svd              cusolverDnXgesvd (default, QR iteration), gesvdj (Jacobi), cusolverDnXgesvdp
//                    (polar) or cusolverDnXgesvdr (randomized rank-k, oversampling p >= 2k, 2 power
//                    iterations); every call is logged with its driver and residual.
//   eigh             cusolverDnXsyevd; cholesky_lower: cusolverDnXpotrf; inverse: Xgetrf + Xgetrs.
//
// The driver's matrices are DeviceMatrix<T> (Matrix = DeviceMatrix<T>, backend.hpp): R or G stays
// on the device after the stream, W is uploaded once, W R^T, its SVD factors, A and B live on the
// device, and only A, B and O(n) vectors (singular values, diagonals, column norms) come back.
// Host-matrix overloads of svd, gemm, stack_r, ... (upload, the device operation, download) serve
// the deep-factorization trainer, the benchmarks and the tests.
//
// Nothing CUDA-specific leaks into this header (pimpl), so plain C++ code (the CLI, the tests) can
// use it. Constructing a backend without a usable device throws lowrank::Error naming the reason
// (unavailable_reason() says it without throwing).
#include <cstddef>
#include <cmath>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "lowrank/core/driver.hpp"

namespace lowrank {

enum class SvdDriver { gesvd, gesvdj, gesvdp, gesvdr };
const char* svd_driver_name(SvdDriver d);
SvdDriver parse_svd_driver(const std::string& s);  // throws Error listing the choices

struct CudaOptions {
  int device = 0;
  SvdDriver svd = SvdDriver::gesvd;
  // gesvdr: the target rank r. Each SVD then returns only its top k = min(r + 1, min(m, n)) triplets
  // (r + 1 so that the gap s_r - s_{r+1} is known); oversampling p = max(gesvdr_oversampling, 2k);
  // when k + p > min(m, n) the call falls back to gesvd (logged).
  Index svd_rank = -1;
  Index gesvdr_oversampling = 0;
  int gesvdr_iters = 2;
  // Check every SVD on the device (`lowrank solve --verify`): ||M V - U S||_F / ||M||_F and the
  // orthogonality of U and V, three extra GEMMs and a copy of M per call, in SvdCallInfo. Off:
  // those fields are NaN.
  bool verify = false;
  // Device bytes the streamed X blocks may use (two staging buffers plus the block part of the
  // stack [R; X_i^T]: 3 * b * n * sizeof(T)). 0: half of the free device memory.
  std::size_t max_device_bytes = 0;
};

// Host-to-device streaming of one accumulate_* call, timed with CUDA events.
struct StreamStats {
  std::string what;              // "tsqr" or "gram"
  Index N = 0, n = 0, blocks = 0, block_rows = 0;
  double bytes_h2d = 0;          // bytes copied host -> device
  std::size_t device_block_bytes = 0;  // device bytes held for X blocks (<= the cap)
  double seconds_wall = 0;       // device timeline: first copy start -> last factorization end
  double seconds_copy = 0;       // sum of the H2D copies
  double seconds_compute = 0;    // sum of the per-block device work (transpose/copy + geqrf or syrk)
  double seconds_host_fill = 0;  // reader thread: reading/converting blocks into pinned memory
  double seconds_host_starved = 0;  // enqueuing thread: waiting for the reader (the disk was the bottleneck)
  // Fraction of the copy time hidden behind compute: (copy + compute - wall) / copy, in [0, 1].
  double hidden_fraction = 0;
};

// One SVD call: which driver ran, on what, and how accurate it was (computed on the device).
struct SvdCallInfo {
  std::string driver;   // cusolver routine actually used
  Index m = 0, n = 0, k = 0;
  // With CudaOptions::verify (NaN otherwise):
  double residual = NAN;  // ||M V_k - U_k S_k||_F / ||M||_F
  double orth_u = NAN;    // ||I - U_k^T U_k||_F
  double orth_v = NAN;    // ||I - V_k^T V_k||_F
  double seconds = 0;   // device time of the factorization call alone (events)
  double driver_residual = -1;  // gesvdj: cusolverDnXgesvdjGetResidual; gesvdp: h_err_sigma
  int sweeps = -1;      // gesvdj sweeps
  std::string note;     // e.g. why gesvdr fell back to gesvd
};

// An X (N x n, one row per token) that already sits in host memory; if period_rows > 0, row i of
// the stream is row (i mod period_rows) of data (long synthetic streams from a pinned pool).
template <class T> struct HostRows {
  const T* data = nullptr;
  Index rows = 0, cols = 0;  // N, n
  Index ld = 0;              // row_major: >= cols; column-major: >= period (or rows)
  bool row_major = true;     // .npy C order
  Index period_rows = 0;
};

struct DeviceInfo {
  std::string name;
  int sm_major = 0, sm_minor = 0, multiprocessors = 0;
  double clock_ghz = 0;
  double total_bytes = 0;
  // Theoretical peak GFLOP/s from the SM count, clock and per-SM rate of the architecture (0 when
  // the architecture is not in the table); fp64 without and with tensor cores.
  double peak_fp32_gflops = 0, peak_fp64_gflops = 0, peak_fp64_tensor_gflops = 0;
};

template <class T> class CudaBackend;

// A column-major rows x cols matrix in device memory (leading dimension = rows), owned: freed by
// cudaFree when it goes. Move-only (a copy is CudaBackend::copy, on the backend's stream). The
// host sees its shape, not its elements (CudaBackend::download brings them).
template <class T> class DeviceMatrix {
 public:
  DeviceMatrix() = default;
  // Uninitialized device memory for rows x cols (cudaMalloc; throws Error when it fails).
  static DeviceMatrix allocate(Index rows, Index cols);
  // A moved-from matrix is empty (0 x 0), so that nothing reads through its null pointer.
  DeviceMatrix(DeviceMatrix&& o) noexcept
      : p_(std::move(o.p_)), rows_(std::exchange(o.rows_, 0)), cols_(std::exchange(o.cols_, 0)) {}
  DeviceMatrix& operator=(DeviceMatrix&& o) noexcept {
    p_ = std::move(o.p_);
    rows_ = std::exchange(o.rows_, 0);
    cols_ = std::exchange(o.cols_, 0);
    return *this;
  }
  DeviceMatrix(const DeviceMatrix&) = delete;
  DeviceMatrix& operator=(const DeviceMatrix&) = delete;
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index size() const { return rows_ * cols_; }
  T* data() const { return p_.get(); }  // device pointer (null when empty)

 private:
  struct Free {
    void operator()(T* p) const noexcept;  // cudaFree (cuda_backend.cpp)
  };
  std::unique_ptr<T, Free> p_;
  Index rows_ = 0, cols_ = 0;
};

template <class T> class CudaBackend {
 public:
  using Scalar = T;
  using Matrix = DeviceMatrix<T>;
  explicit CudaBackend(CudaOptions opt = {});
  ~CudaBackend();
  CudaBackend(CudaBackend&&) noexcept;
  CudaBackend& operator=(CudaBackend&&) noexcept;
  CudaBackend(const CudaBackend&) = delete;
  CudaBackend& operator=(const CudaBackend&) = delete;

  // "" when device opt.device (default 0) can be used; otherwise "no CUDA device: <reason>".
  static std::string unavailable_reason(int device = 0);

  std::string name() const { return "cuda"; }
  std::string precision() const;  // float32 | float64

  // --- the backend seam (core/backend.hpp), on device matrices ---
  DeviceMatrix<T> accumulate_r(RowBlockSource& X, Index block_rows);
  DeviceMatrix<T> accumulate_gram(RowBlockSource& X, Index block_rows);
  DeviceMatrix<T> stack_r(const DeviceMatrix<T>& R, const DeviceMatrix<T>& rows);
  ThinSvd<T, DeviceMatrix<T>> svd(const DeviceMatrix<T>& M);
  SymEig<T, DeviceMatrix<T>> eigh(const DeviceMatrix<T>& G);
  Vec<T> singular_values(const DeviceMatrix<T>& M);  // cusolverDnXgesvd, jobu = jobvt = 'N'
  Vec<T> eigenvalues(const DeviceMatrix<T>& G);      // cusolverDnXsyevd, CUSOLVER_EIG_MODE_NOVECTOR
  bool cholesky_lower(const DeviceMatrix<T>& G, DeviceMatrix<T>& L);
  DeviceMatrix<T> inverse(const DeviceMatrix<T>& M);
  // C = alpha op(A) op(B) + beta C by cublas?gemm. beta == 0 resizes C and never reads it; C must
  // not share storage with A or B.
  void gemm(bool trans_a, bool trans_b, T alpha, const DeviceMatrix<T>& A, const DeviceMatrix<T>& B, T beta,
            DeviceMatrix<T>& C);
  DeviceMatrix<T> upload(const Mat<T>& M);
  Mat<T> download(const DeviceMatrix<T>& M);
  DeviceMatrix<T> copy(const DeviceMatrix<T>& M);
  DeviceMatrix<T> zeros(Index rows, Index cols);
  DeviceMatrix<T> left_cols(const DeviceMatrix<T>& M, Index k);
  DeviceMatrix<T> hcat(const DeviceMatrix<T>& A, const DeviceMatrix<T>& B);
  void scale_columns(DeviceMatrix<T>& M, const Vec<T>& d);  // cublas?dgmm, right
  void scale_rows(DeviceMatrix<T>& M, const Vec<T>& d);     // cublas?dgmm, left
  void add_diagonal(DeviceMatrix<T>& M, T a);
  Vec<T> diagonal(const DeviceMatrix<T>& M);
  std::vector<double> column_sq_norms(const DeviceMatrix<T>& M);  // summed in double on the device
  T squared_norm(const DeviceMatrix<T>& M);                       // cublas?nrm2, squared
  T dot(const DeviceMatrix<T>& A, const DeviceMatrix<T>& B);      // cublas?dot over the elements
  bool all_finite(const DeviceMatrix<T>& M);                      // a counting kernel
  // The trainer's element-wise step pieces (check_train_backend).
  void axpby(T alpha, const DeviceMatrix<T>& X, T beta, DeviceMatrix<T>& Y);  // cublas?geam, in place
  // One kernel: E and the two sums in double, per-block partials added on the host in order.
  ResidualSums<T> masked_residual(const DeviceMatrix<T>& P, const DeviceMatrix<T>& Phi, const DeviceMatrix<T>& mask,
                                  T c, DeviceMatrix<T>& E);

  // --- the same operations on host matrices (upload, device operation, download): the
  // benchmarks and the tests ---
  Mat<T> stack_r(const Mat<T>& R, const Mat<T>& rows);
  ThinSvd<T> svd(const Mat<T>& M);
  SymEig<T> eigh(const Mat<T>& G);
  Vec<T> singular_values(const Mat<T>& M);
  Vec<T> eigenvalues(const Mat<T>& G);
  bool cholesky_lower(const Mat<T>& G, Mat<T>& L);
  Mat<T> inverse(const Mat<T>& M);
  void gemm(bool trans_a, bool trans_b, T alpha, const Mat<T>& A, const Mat<T>& B, T beta, Mat<T>& C);

  // --- device pieces the benchmarks and tests use directly ---
  // The same streams from host memory (pinned memory gives copies that overlap compute).
  Mat<T> accumulate_r(const HostRows<T>& X, Index block_rows);
  Mat<T> accumulate_gram(const HostRows<T>& X, Index block_rows);
  // R of X^T with the whole X on the device and one Xgeqrf; *geqrf_seconds = device time of the
  // factorization alone (no transfers). Throws Error when X does not fit.
  Mat<T> qr_r_in_memory(const HostRows<T>& X, double* geqrf_seconds = nullptr);
  // An SVD with an explicit driver (rank used by gesvdr only); info receives the log entry.
  ThinSvd<T, DeviceMatrix<T>> svd(const DeviceMatrix<T>& M, SvdDriver driver, Index rank, SvdCallInfo* info = nullptr);
  ThinSvd<T> svd(const Mat<T>& M, SvdDriver driver, Index rank, SvdCallInfo* info = nullptr);
  // --- device-resident pieces of the distributed tree reduction (distributed/, over NCCL) ---
  // The stream every call of this backend runs on (a cudaStream_t, as void* so that this header
  // stays free of CUDA); NCCL transfers queued on it are ordered with the backend's own work.
  void* stream_handle() const;
  // In place, on the device: A (column-major m x n, leading dimension lda >= m) becomes
  // [qr_R(A); 0], the min(m, n) x n upper triangle of one cusolverDnXgeqrf on top, zeros below.
  // devInfo is checked (throws Error); returns after the stream has finished.
  void qr_r_device(T* A, Index m, Index n, Index lda);
  // Device time of the last cholesky_lower's Xpotrf (seconds).
  double last_potrf_seconds() const;
  // Measured GEMM rate (GFLOP/s, median of reps) at n x n x n in this precision.
  double measure_gemm_gflops(Index n, int reps = 5);
  // Pinned host memory (cudaMallocHost), freed by the returned deleter.
  static std::shared_ptr<T> alloc_pinned(std::size_t count);

  const StreamStats& last_stream() const;
  const std::vector<SvdCallInfo>& svd_log() const;
  void clear_svd_log();
  const CudaOptions& options() const;
  void set_options(const CudaOptions& opt);
  DeviceInfo device_info() const;

 private:
  SymEig<T, DeviceMatrix<T>> eigh_impl(const DeviceMatrix<T>& G, bool vectors);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

extern template class CudaBackend<float>;
extern template class CudaBackend<double>;
static_assert(check_solve_backend<CudaBackend<float>>() && check_train_backend<CudaBackend<float>>());
static_assert(check_solve_backend<CudaBackend<double>>() && check_train_backend<CudaBackend<double>>());

}  // namespace lowrank
