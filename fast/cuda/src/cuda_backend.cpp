// CudaBackend<T>: host code over cuBLAS / cuSOLVER (64-bit API) and three small kernels.
// All matrices are column-major (as Eigen's defaults); every call is checked and a failure throws
// lowrank::Error naming the call; every devInfo is read back and checked.
#include "lowrank/fast/cuda_backend.hpp"

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cusolverDn.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <deque>
#include <optional>
#include <cmath>
#include <type_traits>
#include <utility>

#include "kernels.hpp"
#include "lowrank/core/block_pipeline.hpp"
#include "lowrank/core/error.hpp"

namespace lowrank {

const char* svd_driver_name(SvdDriver d) {
  switch (d) {
    case SvdDriver::gesvd: return "gesvd";
    case SvdDriver::gesvdj: return "gesvdj";
    case SvdDriver::gesvdp: return "gesvdp";
    case SvdDriver::gesvdr: return "gesvdr";
  }
  return "?";
}

SvdDriver parse_svd_driver(const std::string& s) {
  if (s == "gesvd") return SvdDriver::gesvd;
  if (s == "gesvdj") return SvdDriver::gesvdj;
  if (s == "gesvdp") return SvdDriver::gesvdp;
  if (s == "gesvdr") return SvdDriver::gesvdr;
  throw Error("unknown SVD driver '" + s + "' (expected gesvd | gesvdj | gesvdp | gesvdr)");
}

namespace {

// ---------- status checks: the message names the call ----------
std::string call_name(const char* expr) {
  std::string s(expr);
  const auto p = s.find('(');
  return p == std::string::npos ? s : s.substr(0, p);
}

const char* cusolver_status_name(cusolverStatus_t s) {
  switch (s) {
    case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
    case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
    case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
    case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
    case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
    case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
    case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
    case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
    case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
    default: return "cusolverStatus (unlisted)";
  }
}

void check(cudaError_t e, const char* expr) {
  if (e != cudaSuccess)
    throw Error("CUDA: " + call_name(expr) + " failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
}
void check(cublasStatus_t e, const char* expr) {
  if (e != CUBLAS_STATUS_SUCCESS)
    throw Error("cuBLAS: " + call_name(expr) + " failed: " + cublasGetStatusName(e) + " (" +
                cublasGetStatusString(e) + ")");
}
void check(cusolverStatus_t e, const char* expr) {
  if (e != CUSOLVER_STATUS_SUCCESS)
    throw Error("cuSOLVER: " + call_name(expr) + " failed: " + cusolver_status_name(e) + " (" +
                std::to_string(int(e)) + ")");
}
#define LR_CHECK(expr) check((expr), #expr)
#define LR_LAUNCHED(what) check(cudaGetLastError(), what "(kernel launch)")

template <class T> constexpr cudaDataType data_type() {
  return std::is_same<T, float>::value ? CUDA_R_32F : CUDA_R_64F;
}

// ---------- RAII ----------
template <class T> class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(std::size_t count) { resize(count); }
  ~DeviceBuffer() { release(); }
  DeviceBuffer(DeviceBuffer&& o) noexcept : p_(o.p_), n_(o.n_) { o.p_ = nullptr; o.n_ = 0; }
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(p_, o.p_);
    std::swap(n_, o.n_);
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void resize(std::size_t count) {
    release();
    if (count == 0) return;
    void* p = nullptr;
    const cudaError_t e = cudaMalloc(&p, count * sizeof(T));
    if (e != cudaSuccess)
      throw Error("CUDA: cudaMalloc of " + std::to_string(count * sizeof(T)) + " bytes failed: " + cudaGetErrorName(e) +
                  " (" + cudaGetErrorString(e) + ")");
    p_ = static_cast<T*>(p);
    n_ = count;
  }
  T* get() const { return p_; }
  std::size_t size() const { return n_; }

 private:
  void release() {
    if (p_) cudaFree(p_);
    p_ = nullptr;
    n_ = 0;
  }
  T* p_ = nullptr;
  std::size_t n_ = 0;
};

class Event {
 public:
  Event() { LR_CHECK(cudaEventCreate(&e_)); }
  ~Event() {
    if (e_) cudaEventDestroy(e_);
  }
  Event(Event&& o) noexcept : e_(o.e_) { o.e_ = nullptr; }
  Event& operator=(Event&&) = delete;
  Event(const Event&) = delete;
  cudaEvent_t get() const { return e_; }

 private:
  cudaEvent_t e_ = nullptr;
};

double elapsed_s(const Event& a, const Event& b) {
  float ms = 0;
  LR_CHECK(cudaEventElapsedTime(&ms, a.get(), b.get()));
  return double(ms) * 1e-3;
}

// ---------- typed cuBLAS wrappers (64-bit integer API) ----------
cublasStatus_t blas_gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
                    float alpha, const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C,
                    int64_t ldc) {
  return cublasSgemm_64(h, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
}
cublasStatus_t blas_gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int64_t m, int64_t n, int64_t k,
                    double alpha, const double* A, int64_t lda, const double* B, int64_t ldb, double beta, double* C,
                    int64_t ldc) {
  return cublasDgemm_64(h, ta, tb, m, n, k, &alpha, A, lda, B, ldb, &beta, C, ldc);
}
// bool-flag form for CudaBackend::gemm (the member named gemm would hide a free gemm: hence blas_gemm).
template <class T>
cublasStatus_t device_gemm(cublasHandle_t h, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* A,
                           int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  return blas_gemm(h, ta ? CUBLAS_OP_T : CUBLAS_OP_N, tb ? CUBLAS_OP_T : CUBLAS_OP_N, m, n, k, alpha, A, lda, B, ldb, beta, C,
              ldc);
}
cublasStatus_t syrk(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t t, int64_t n, int64_t k, float alpha,
                    const float* A, int64_t lda, float beta, float* C, int64_t ldc) {
  return cublasSsyrk_64(h, uplo, t, n, k, &alpha, A, lda, &beta, C, ldc);
}
cublasStatus_t syrk(cublasHandle_t h, cublasFillMode_t uplo, cublasOperation_t t, int64_t n, int64_t k, double alpha,
                    const double* A, int64_t lda, double beta, double* C, int64_t ldc) {
  return cublasDsyrk_64(h, uplo, t, n, k, &alpha, A, lda, &beta, C, ldc);
}
// C (m x n) = op(A); B = C with beta = 0 is cuBLAS's documented in-place form (C is finite: zeroed
// at allocation or holding earlier finite data).
cublasStatus_t transpose_into(cublasHandle_t h, int64_t m, int64_t n, const float* A, int64_t lda, float* C,
                              int64_t ldc) {
  const float one = 1, zero = 0;
  return cublasSgeam_64(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, &one, A, lda, &zero, C, ldc, C, ldc);
}
cublasStatus_t transpose_into(cublasHandle_t h, int64_t m, int64_t n, const double* A, int64_t lda, double* C,
                              int64_t ldc) {
  const double one = 1, zero = 0;
  return cublasDgeam_64(h, CUBLAS_OP_T, CUBLAS_OP_N, m, n, &one, A, lda, &zero, C, ldc, C, ldc);
}
// C = alpha A + beta B (no transposes); C = B with ldc = ldb is cuBLAS's documented in-place form.
cublasStatus_t geam_nn(cublasHandle_t h, int64_t m, int64_t n, float alpha, const float* A, int64_t lda, float beta,
                       const float* B, int64_t ldb, float* C, int64_t ldc) {
  return cublasSgeam_64(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, &alpha, A, lda, &beta, B, ldb, C, ldc);
}
cublasStatus_t geam_nn(cublasHandle_t h, int64_t m, int64_t n, double alpha, const double* A, int64_t lda,
                       double beta, const double* B, int64_t ldb, double* C, int64_t ldc) {
  return cublasDgeam_64(h, CUBLAS_OP_N, CUBLAS_OP_N, m, n, &alpha, A, lda, &beta, B, ldb, C, ldc);
}
cublasStatus_t nrm2(cublasHandle_t h, int64_t n, const float* x, float* out) { return cublasSnrm2_64(h, n, x, 1, out); }
cublasStatus_t nrm2(cublasHandle_t h, int64_t n, const double* x, double* out) { return cublasDnrm2_64(h, n, x, 1, out); }
// A = diag(x) A (left) or A diag(x) (right), in place (cuBLAS allows C = A with ldc = lda).
cublasStatus_t dgmm(cublasHandle_t h, cublasSideMode_t side, int64_t m, int64_t n, float* A, int64_t lda, const float* x) {
  return cublasSdgmm_64(h, side, m, n, A, lda, x, 1, A, lda);
}
cublasStatus_t dgmm(cublasHandle_t h, cublasSideMode_t side, int64_t m, int64_t n, double* A, int64_t lda,
                    const double* x) {
  return cublasDdgmm_64(h, side, m, n, A, lda, x, 1, A, lda);
}
cublasStatus_t blas_dot(cublasHandle_t h, int64_t n, const float* x, const float* y, float* out) {
  return cublasSdot_64(h, n, x, 1, y, 1, out);
}
cublasStatus_t blas_dot(cublasHandle_t h, int64_t n, const double* x, const double* y, double* out) {
  return cublasDdot_64(h, n, x, 1, y, 1, out);
}

cusolverStatus_t gesvdj_buffer(cusolverDnHandle_t h, int m, int n, const float* A, int lda, const float* S,
                               const float* U, int ldu, const float* V, int ldv, int* lwork, gesvdjInfo_t p) {
  return cusolverDnSgesvdj_bufferSize(h, CUSOLVER_EIG_MODE_VECTOR, 1, m, n, A, lda, S, U, ldu, V, ldv, lwork, p);
}
cusolverStatus_t gesvdj_buffer(cusolverDnHandle_t h, int m, int n, const double* A, int lda, const double* S,
                               const double* U, int ldu, const double* V, int ldv, int* lwork, gesvdjInfo_t p) {
  return cusolverDnDgesvdj_bufferSize(h, CUSOLVER_EIG_MODE_VECTOR, 1, m, n, A, lda, S, U, ldu, V, ldv, lwork, p);
}
cusolverStatus_t gesvdj_run(cusolverDnHandle_t h, int m, int n, float* A, int lda, float* S, float* U, int ldu,
                            float* V, int ldv, float* work, int lwork, int* info, gesvdjInfo_t p) {
  return cusolverDnSgesvdj(h, CUSOLVER_EIG_MODE_VECTOR, 1, m, n, A, lda, S, U, ldu, V, ldv, work, lwork, info, p);
}
cusolverStatus_t gesvdj_run(cusolverDnHandle_t h, int m, int n, double* A, int lda, double* S, double* U, int ldu,
                            double* V, int ldv, double* work, int lwork, int* info, gesvdjInfo_t p) {
  return cusolverDnDgesvdj(h, CUSOLVER_EIG_MODE_VECTOR, 1, m, n, A, lda, S, U, ldu, V, ldv, work, lwork, info, p);
}

std::size_t free_device_bytes() {
  std::size_t free_b = 0, total_b = 0;
  LR_CHECK(cudaMemGetInfo(&free_b, &total_b));
  return free_b;
}

std::string gib(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g GiB", bytes / double(1ull << 30));
  return buf;
}

}  // namespace

// ====================================================================================
template <class T> struct CudaBackend<T>::Impl {
  CudaOptions opt;
  cudaStream_t compute = nullptr, copy = nullptr;
  cublasHandle_t blas = nullptr;
  cusolverDnHandle_t solver = nullptr;
  cusolverDnParams_t params = nullptr;
  DeviceBuffer<char> dev_work;
  std::vector<char> host_work;
  DeviceBuffer<int> info1;  // devInfo of the one-shot calls
  StreamStats stats;
  std::vector<SvdCallInfo> log;
  double potrf_seconds = 0;

  explicit Impl(const CudaOptions& o) : opt(o) {
    LR_CHECK(cudaSetDevice(opt.device));
    LR_CHECK(cudaStreamCreateWithFlags(&compute, cudaStreamNonBlocking));
    LR_CHECK(cudaStreamCreateWithFlags(&copy, cudaStreamNonBlocking));
    LR_CHECK(cublasCreate(&blas));
    LR_CHECK(cublasSetStream(blas, compute));
    LR_CHECK(cublasSetPointerMode(blas, CUBLAS_POINTER_MODE_HOST));
    LR_CHECK(cusolverDnCreate(&solver));
    LR_CHECK(cusolverDnSetStream(solver, compute));
    LR_CHECK(cusolverDnCreateParams(&params));
    info1.resize(1);
  }
  ~Impl() {
    if (compute) cudaStreamSynchronize(compute);
    if (copy) cudaStreamSynchronize(copy);
    if (params) cusolverDnDestroyParams(params);
    if (solver) cusolverDnDestroy(solver);
    if (blas) cublasDestroy(blas);
    if (copy) cudaStreamDestroy(copy);
    if (compute) cudaStreamDestroy(compute);
  }

  void sync() { LR_CHECK(cudaStreamSynchronize(compute)); }

  void* device_workspace(std::size_t bytes) {
    if (bytes > dev_work.size()) {
      sync();  // the old buffer may still be in use by queued work
      dev_work.resize(bytes);
    }
    return bytes ? dev_work.get() : nullptr;
  }
  void* host_workspace(std::size_t bytes) {
    if (bytes > host_work.size()) {
      sync();
      host_work.resize(bytes);
    }
    return bytes ? host_work.data() : nullptr;
  }

  DeviceBuffer<T> upload(const Mat<T>& M) {
    DeviceBuffer<T> d(std::size_t(M.size()));
    if (M.size())
      LR_CHECK(cudaMemcpyAsync(d.get(), M.data(), sizeof(T) * M.size(), cudaMemcpyHostToDevice, compute));
    return d;
  }
  Mat<T> download(const T* d, Index rows, Index cols, Index ld) {
    Mat<T> M(rows, cols);
    if (M.size())
      LR_CHECK(cudaMemcpy2DAsync(M.data(), sizeof(T) * rows, d, sizeof(T) * ld, sizeof(T) * rows, cols,
                                 cudaMemcpyDeviceToHost, compute));
    sync();
    return M;
  }
  int read_info(const int* d) {
    int v = 0;
    LR_CHECK(cudaMemcpyAsync(&v, d, sizeof(int), cudaMemcpyDeviceToHost, compute));
    sync();
    return v;
  }
  static void check_info(int info, const std::string& routine, const std::string& what) {
    if (info < 0)
      throw Error(routine + ": parameter " + std::to_string(-info) + " had an illegal value (" + what + ")");
    if (info > 0) throw Error(routine + " failed with info = " + std::to_string(info) + " (" + what + ")");
  }

  // ---- one cuSOLVER call: bufferSize -> workspace -> call -> info, in one place ----
  // `query(&device_bytes, &host_bytes)` asks for the workspace (the 64-bit API's *_bufferSize),
  // `run(dw, device_bytes, hw, host_bytes, d_info)` enqueues the routine on the compute stream
  // with the workspace this object keeps (grown when a call needs more, never shrunk). solver_enqueue
  // leaves the info on the device (the streaming loop checks a batch of them at once);
  // solver_call waits for it and returns it, timing the routine alone between t0 and t1 when given.
  template <class Query, class Run>
  void solver_enqueue(const char* routine, Query&& query, Run&& run, int* d_info, cudaEvent_t t0 = nullptr,
                      cudaEvent_t t1 = nullptr) {
    std::size_t dbytes = 0, hbytes = 0;
    check(query(&dbytes, &hbytes), (std::string(routine) + "_bufferSize").c_str());
    void* dw = device_workspace(dbytes);
    void* hw = host_workspace(hbytes);
    if (t0) LR_CHECK(cudaEventRecord(t0, compute));
    check(run(dw, dbytes, hw, hbytes, d_info), routine);
    if (t1) LR_CHECK(cudaEventRecord(t1, compute));
  }
  template <class Query, class Run>
  int solver_call(const char* routine, Query&& query, Run&& run, cudaEvent_t t0 = nullptr, cudaEvent_t t1 = nullptr) {
    solver_enqueue(routine, std::forward<Query>(query), std::forward<Run>(run), info1.get(), t0, t1);
    return read_info(info1.get());
  }

  // ---- geqrf on the compute stream; the info goes to d_info (checked by the caller) ----
  std::size_t geqrf_work(int64_t m, int64_t n, T* A, int64_t lda, T* tau, std::size_t* host_bytes) {
    std::size_t dbytes = 0, hbytes = 0;
    LR_CHECK(cusolverDnXgeqrf_bufferSize(solver, params, m, n, data_type<T>(), A, lda, data_type<T>(), tau,
                                         data_type<T>(), &dbytes, &hbytes));
    *host_bytes = hbytes;
    return dbytes;
  }
  void geqrf(int64_t m, int64_t n, T* A, int64_t lda, T* tau, int* d_info) {
    solver_enqueue(
        "cusolverDnXgeqrf",
        [&](std::size_t* db, std::size_t* hb) {
          *db = geqrf_work(m, n, A, lda, tau, hb);
          return CUSOLVER_STATUS_SUCCESS;
        },
        [&](void* dw, std::size_t db, void* hw, std::size_t hb, int* info) {
          return cusolverDnXgeqrf(solver, params, m, n, data_type<T>(), A, lda, data_type<T>(), tau, data_type<T>(), dw,
                                  db, hw, hb, info);
        },
        d_info);
  }

  // ---- the streaming pipeline (TSQR or Gram) ----
  enum class Op { tsqr, gram };

  DeviceMatrix<T> zeros(Index rows, Index cols) {
    DeviceMatrix<T> Z = DeviceMatrix<T>::allocate(rows, cols);
    if (Z.size()) LR_CHECK(cudaMemsetAsync(Z.data(), 0, sizeof(T) * std::size_t(Z.size()), compute));
    return Z;
  }
  // True when none of a[0 .. count) is NaN or Inf.
  bool all_finite(const T* a, Index count) {
    if (count == 0) return true;
    DeviceBuffer<unsigned long long> bad(1);
    LR_CHECK(cudaMemsetAsync(bad.get(), 0, sizeof(unsigned long long), compute));
    cuda_kernels::count_nonfinite(a, count, bad.get(), compute);
    LR_LAUNCHED("count_nonfinite");
    unsigned long long h = 0;
    LR_CHECK(cudaMemcpyAsync(&h, bad.get(), sizeof h, cudaMemcpyDeviceToHost, compute));
    sync();
    return h == 0;
  }
  // M diag(d) (right) or diag(d) M (left), in place; the factors uploaded first.
  void scale(DeviceMatrix<T>& M, const Vec<T>& d, cublasSideMode_t side) {
    if (M.size() == 0) return;
    DeviceBuffer<T> dd(std::size_t(d.size()));
    LR_CHECK(cudaMemcpyAsync(dd.get(), d.data(), sizeof(T) * dd.size(), cudaMemcpyHostToDevice, compute));
    LR_CHECK(dgmm(blas, side, M.rows(), M.cols(), M.data(), M.rows(), dd.get()));
    sync();  // d is read and dd goes when this returns
  }
  // A copy of columns [0, k) (contiguous: leading dimension = rows).
  DeviceMatrix<T> left_cols(const T* a, Index rows, Index k) {
    DeviceMatrix<T> C = DeviceMatrix<T>::allocate(rows, k);
    if (C.size())
      LR_CHECK(cudaMemcpyAsync(C.data(), a, sizeof(T) * std::size_t(C.size()), cudaMemcpyDeviceToDevice, compute));
    return C;
  }

  DeviceMatrix<T> stream(Op op, RowBlockSource* src, const HostRows<T>* hx, Index block_rows) {
    const Index N = src ? src->rows() : hx->rows;
    const Index n = src ? src->cols() : hx->cols;
    if (block_rows < 1) throw Error("block must be at least 1 row, got " + std::to_string(block_rows));
    if (hx) {
      if (!hx->data && N > 0) throw Error("HostRows: data is null");
      const Index period = hx->period_rows > 0 ? hx->period_rows : N;
      if (hx->row_major ? hx->ld < n : hx->ld < period)
        throw Error("HostRows: ld = " + std::to_string(hx->ld) + " too small for " + shape_str(period, n) +
                    (hx->row_major ? " (row-major)" : " (column-major)"));
    }
    stats = StreamStats{};
    stats.what = op == Op::tsqr ? "tsqr" : "gram";
    stats.N = N;
    stats.n = n;
    if (n == 0) return DeviceMatrix<T>();
    if (N == 0) return zeros(n, n);

    // Block size: what the caller asked, capped by the device bytes allowed for X blocks.
    const std::size_t per_row = std::size_t(op == Op::tsqr ? 3 : 2) * std::size_t(n) * sizeof(T);
    std::size_t cap = opt.max_device_bytes;
    if (cap == 0) {
      const std::size_t fixed = std::size_t(n) * std::size_t(n) * sizeof(T);
      const std::size_t half = free_device_bytes() / 2;
      cap = half > fixed ? half - fixed : 0;
    }
    const Index rows_cap = Index(cap / per_row);
    if (rows_cap < 1)
      throw Error("device memory cap for X blocks (" + std::to_string(cap) + " bytes) is smaller than one token row (" +
                  std::to_string(per_row) + " bytes for n = " + std::to_string(n) + ")");
    const Index bmax = std::min({block_rows, N, rows_cap});
    stats.block_rows = bmax;
    stats.device_block_bytes = std::size_t(bmax) * per_row;

    // Device buffers: staging D[0], D[1] (bmax x n each); TSQR stack S = [R; X_i^T] ((n + bmax) x n);
    // Gram accumulator G (n x n).
    DeviceBuffer<T> D[2] = {DeviceBuffer<T>(std::size_t(bmax) * n), DeviceBuffer<T>(std::size_t(bmax) * n)};
    const int64_t lds = n + bmax;
    DeviceBuffer<T> S, tau, G;
    if (op == Op::tsqr) {
      S.resize(std::size_t(lds) * n);
      LR_CHECK(cudaMemsetAsync(S.get(), 0, sizeof(T) * S.size(), compute));
      tau.resize(std::size_t(n));
      // Workspace for the largest shape up front, so that no reallocation stalls the pipeline.
      std::size_t hb = 0, hmax = 0, dmax = 0;
      for (int64_t m : {int64_t(bmax), int64_t(n + bmax)}) {
        dmax = std::max(dmax, geqrf_work(m, n, S.get(), lds, tau.get(), &hb));
        hmax = std::max(hmax, hb);
      }
      device_workspace(dmax);
      host_workspace(hmax);
    } else {
      G.resize(std::size_t(n) * n);
      LR_CHECK(cudaMemsetAsync(G.get(), 0, sizeof(T) * G.size(), compute));
    }
    // One devInfo slot per block; a source may return short blocks, so room for up to N of them.
    DeviceBuffer<int> infos(static_cast<std::size_t>(N));
    LR_CHECK(cudaMemsetAsync(infos.get(), 0, sizeof(int) * N, compute));
    std::shared_ptr<T> pinned[2];
    if (src) {
      pinned[0] = CudaBackend<T>::alloc_pinned(std::size_t(bmax) * n);
      pinned[1] = CudaBackend<T>::alloc_pinned(std::size_t(bmax) * n);
    }
    sync();  // allocations and zeroing done before the copy stream starts

    struct BlockEvents {
      Event copy_start, copy_end, comp_start, staging_free, comp_end;
    };
    std::deque<BlockEvents> ev;  // grows by one per block; references stay valid
    const bool row_major_block = hx && hx->row_major;

    // One block: H2D (from the pinned buffer `host`, or from the caller's HostRows) on the copy
    // stream, then the factorization / accumulation on the compute stream.
    Index done_rows = 0;
    auto enqueue = [&](Index i, Index b, const T* host) {
      const int s = int(i & 1);
      ev.emplace_back();
      BlockEvents& e = ev.back();
      T* Ds = D[s].get();

      // Copy stream: H2D into staging D[s] once block i - 2 has been moved out of it.
      if (i >= 2) LR_CHECK(cudaStreamWaitEvent(copy, ev[std::size_t(i - 2)].staging_free.get(), 0));
      LR_CHECK(cudaEventRecord(e.copy_start.get(), copy));
      if (host) {
        LR_CHECK(cudaMemcpyAsync(Ds, host, sizeof(T) * std::size_t(b) * n, cudaMemcpyHostToDevice, copy));
      } else {
        // Rows [done_rows, done_rows + b) of the stream, split where the pool wraps around.
        const Index period = hx->period_rows > 0 ? hx->period_rows : N;
        Index off = 0;
        while (off < b) {
          const Index p0 = (done_rows + off) % period;
          const Index len = std::min(b - off, period - p0);
          if (row_major_block) {
            // D[s] holds the block row-major: column-major n x b with ld n.
            LR_CHECK(cudaMemcpy2DAsync(Ds + std::size_t(off) * n, sizeof(T) * n, hx->data + std::size_t(p0) * hx->ld,
                                       sizeof(T) * hx->ld, sizeof(T) * n, len, cudaMemcpyHostToDevice, copy));
          } else {
            // D[s] holds the block column-major: b x n with ld b.
            LR_CHECK(cudaMemcpy2DAsync(Ds + off, sizeof(T) * b, hx->data + p0, sizeof(T) * hx->ld, sizeof(T) * len, n,
                                       cudaMemcpyHostToDevice, copy));
          }
          off += len;
        }
      }
      stats.bytes_h2d += double(sizeof(T)) * double(b) * double(n);
      LR_CHECK(cudaEventRecord(e.copy_end.get(), copy));

      // Compute stream: wait for the copy, move the block out of staging, factor / accumulate.
      LR_CHECK(cudaStreamWaitEvent(compute, e.copy_end.get(), 0));
      LR_CHECK(cudaEventRecord(e.comp_start.get(), compute));
      if (op == Op::tsqr) {
        T* dst = S.get() + n;  // rows n .. n + b - 1 of the stack
        if (row_major_block) LR_CHECK(transpose_into(blas, b, n, Ds, n, dst, lds));
        else
          LR_CHECK(cudaMemcpy2DAsync(dst, sizeof(T) * lds, Ds, sizeof(T) * b, sizeof(T) * b, n,
                                     cudaMemcpyDeviceToDevice, compute));
        LR_CHECK(cudaEventRecord(e.staging_free.get(), compute));
        if (i == 0) {
          // R_1 = qr_R(X_1^T): factor the block alone, then move its triangle to the top n rows.
          geqrf(b, n, dst, lds, tau.get(), infos.get() + i);
          cuda_kernels::take_upper(dst, lds, std::min<Index>(b, n), S.get(), lds, n, n, compute);
        } else {
          // R_i = qr_R([R_{i-1}; X_i^T]); zero the Householder vectors under the new R's diagonal.
          geqrf(n + b, n, S.get(), lds, tau.get(), infos.get() + i);
          cuda_kernels::take_upper(S.get(), lds, n, S.get(), lds, n, n, compute);
        }
        LR_LAUNCHED("take_upper");
      } else {
        if (row_major_block) LR_CHECK(syrk(blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, b, T(1), Ds, n, T(1), G.get(), n));
        else LR_CHECK(syrk(blas, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_T, n, b, T(1), Ds, b, T(1), G.get(), n));
        LR_CHECK(cudaEventRecord(e.staging_free.get(), compute));
      }
      LR_CHECK(cudaEventRecord(e.comp_end.get(), compute));
      done_rows += b;
    };

    double host_fill = 0;
    Index used = 0;
    if (src) {
      // A reader thread fills the pinned buffers (core/block_pipeline.hpp: the ordering is tested
      // there against a fake queue) while this thread enqueues: the read of block i + 1 overlaps
      // the upload and the factorization of block i.
      struct Queue {
        std::shared_ptr<T>* pinned;
        std::deque<BlockEvents>* ev;
        decltype(enqueue)* go;
        int slots() const { return 2; }
        T* host(int slot) { return pinned[slot].get(); }
        void submit(int slot, Index block, Index rows) { (*go)(block, rows, pinned[slot].get()); }
        void wait_upload(Index block) { LR_CHECK(cudaEventSynchronize((*ev)[std::size_t(block)].copy_end.get())); }
      } q{pinned, &ev, &enqueue};
      const PipelineStats ps = run_block_pipeline<T>(*src, bmax, q);
      host_fill = ps.seconds_reading;
      stats.seconds_host_starved = ps.seconds_starved;
      used = ps.blocks;
    } else {
      for (; done_rows < N; ++used) enqueue(used, std::min(bmax, N - done_rows), nullptr);
    }
    sync();
    LR_CHECK(cudaStreamSynchronize(copy));

    // Every devInfo of the stream.
    if (op == Op::tsqr) {
      std::vector<int> h(static_cast<std::size_t>(used));
      LR_CHECK(cudaMemcpy(h.data(), infos.get(), sizeof(int) * used, cudaMemcpyDeviceToHost));
      for (Index k = 0; k < used; ++k)
        if (h[std::size_t(k)] != 0)
          check_info(h[std::size_t(k)], "cusolverDnXgeqrf",
                     "streaming TSQR block " + std::to_string(k + 1) + " of " + std::to_string(used) + ", n = " +
                         std::to_string(n));
    }

    stats.blocks = used;
    stats.seconds_host_fill = host_fill;
    stats.seconds_wall = elapsed_s(ev[0].copy_start, ev[std::size_t(used - 1)].comp_end);
    for (Index k = 0; k < used; ++k) {
      stats.seconds_copy += elapsed_s(ev[std::size_t(k)].copy_start, ev[std::size_t(k)].copy_end);
      stats.seconds_compute += elapsed_s(ev[std::size_t(k)].comp_start, ev[std::size_t(k)].comp_end);
    }
    if (stats.seconds_copy > 0)
      stats.hidden_fraction = std::clamp(
          (stats.seconds_copy + stats.seconds_compute - stats.seconds_wall) / stats.seconds_copy, 0.0, 1.0);

    // R (the top n x n of the stack) or the symmetric G (syrk filled its lower triangle), compact.
    DeviceMatrix<T> out = DeviceMatrix<T>::allocate(n, n);
    if (op == Op::tsqr) {
      LR_CHECK(cudaMemcpy2DAsync(out.data(), sizeof(T) * n, S.get(), sizeof(T) * lds, sizeof(T) * n, n,
                                 cudaMemcpyDeviceToDevice, compute));
    } else {
      cuda_kernels::symmetric_from_lower(G.get(), n, out.data(), n, n, compute);
      LR_LAUNCHED("symmetric_from_lower");
    }
    sync();
    return out;
  }

  // M, or M^T when transposed, in a fresh buffer (the routines overwrite their input).
  DeviceBuffer<T> oriented_copy(const DeviceMatrix<T>& M, bool transposed) {
    const Index m0 = M.rows(), n0 = M.cols();
    DeviceBuffer<T> A(std::size_t(m0) * std::size_t(n0));
    if (!transposed) {
      LR_CHECK(cudaMemcpyAsync(A.get(), M.data(), sizeof(T) * A.size(), cudaMemcpyDeviceToDevice, compute));
    } else {
      LR_CHECK(cudaMemsetAsync(A.get(), 0, sizeof(T) * A.size(), compute));  // geam in place reads C (beta = 0)
      LR_CHECK(transpose_into(blas, n0, m0, M.data(), m0, A.get(), n0));
    }
    return A;
  }

  // ---- SVD ----
  ThinSvd<T, DeviceMatrix<T>> svd(const DeviceMatrix<T>& M, SvdDriver driver, Index rank, SvdCallInfo* out) {
    SvdCallInfo info;
    const Index m0 = M.rows(), n0 = M.cols();
    info.m = m0;
    info.n = n0;
    if (m0 == 0 || n0 == 0) {
      info.driver = "none (empty matrix)";
      log.push_back(info);
      if (out) *out = info;
      return {DeviceMatrix<T>::allocate(m0, 0), Vec<T>(0), DeviceMatrix<T>::allocate(n0, 0)};
    }
    // cuSOLVER's SVDs do not promise an info for NaN/Inf input: refuse it here, loudly.
    if (!all_finite(M.data(), M.size())) throw Error("svd: the " + shape_str(m0, n0) + " matrix contains NaN or Inf");
    // Work on A = M (m >= n) or A = M^T (then U and V swap): cusolverDnXgesvd needs m >= n.
    const bool transposed = m0 < n0;
    const int64_t m = transposed ? n0 : m0, n = transposed ? m0 : n0;
    Index k = n;
    Index p = 0;
    if (driver == SvdDriver::gesvdr) {
      if (rank < 0) throw Error("SVD driver gesvdr needs the target rank (CudaOptions::svd_rank)");
      k = std::min<Index>(rank + 1, n);
      p = std::max<Index>(opt.gesvdr_oversampling, 2 * k);
      if (k + p > n) {
        info.note = "gesvdr not applicable: k + p = " + std::to_string(k + p) + " > min(m, n) = " + std::to_string(n) +
                    "; used gesvd";
        driver = SvdDriver::gesvd;
        k = n;
      }
    }
    info.k = k;
    DeviceBuffer<T> A = oriented_copy(M, transposed);  // overwritten by the SVD routine
    std::optional<DeviceBuffer<T>> A0;   // the input, kept for the residual (CudaOptions::verify)
    if (opt.verify) {
      A0.emplace(std::size_t(m) * n);
      LR_CHECK(cudaMemcpyAsync(A0->get(), A.get(), sizeof(T) * m * n, cudaMemcpyDeviceToDevice, compute));
    }
    // V is n x k (ld n); for gesvdr room for n x n, in case the routine writes past column k.
    DeviceBuffer<T> S(static_cast<std::size_t>(n));
    DeviceMatrix<T> U = DeviceMatrix<T>::allocate(m, k),
                    V = DeviceMatrix<T>::allocate(n, driver == SvdDriver::gesvdr ? n : k);
    Event t0, t1;
    if (driver == SvdDriver::gesvd) {
      info.driver = "cusolverDnXgesvd";
      DeviceBuffer<T> VT(std::size_t(n) * n);
      const int inf = solver_call(
          "cusolverDnXgesvd",
          [&](std::size_t* db, std::size_t* hb) {
            return cusolverDnXgesvd_bufferSize(solver, params, 'S', 'S', m, n, data_type<T>(), A.get(), m,
                                               data_type<T>(), S.get(), data_type<T>(), U.data(), m, data_type<T>(),
                                               VT.get(), n, data_type<T>(), db, hb);
          },
          [&](void* dw, std::size_t db, void* hw, std::size_t hb, int* d_info) {
            return cusolverDnXgesvd(solver, params, 'S', 'S', m, n, data_type<T>(), A.get(), m, data_type<T>(), S.get(),
                                    data_type<T>(), U.data(), m, data_type<T>(), VT.get(), n, data_type<T>(), dw, db, hw,
                                    hb, d_info);
          },
          t0.get(), t1.get());
      check_info(inf, "cusolverDnXgesvd", shape_str(m, n) + (inf > 0 ? ": bidiagonal QR iteration did not converge" : ""));
      LR_CHECK(transpose_into(blas, n, n, VT.get(), n, V.data(), n));  // V = VT^T
    } else if (driver == SvdDriver::gesvdj) {
      info.driver = "cusolverDn" + std::string(std::is_same<T, float>::value ? "S" : "D") + "gesvdj";
      if (m > INT_MAX || n > INT_MAX) throw Error("gesvdj takes 32-bit sizes; " + shape_str(m, n) + " is too large");
      gesvdjInfo_t gp = nullptr;
      LR_CHECK(cusolverDnCreateGesvdjInfo(&gp));
      struct Guard {
        gesvdjInfo_t p;
        ~Guard() { cusolverDnDestroyGesvdjInfo(p); }
      } guard{gp};
      LR_CHECK(cusolverDnXgesvdjSetSortEig(gp, 1));
      // The legacy 32-bit API counts its workspace in elements (lwork), on the device only.
      const int inf = solver_call(
          info.driver.c_str(),
          [&](std::size_t* db, std::size_t* hb) {
            int lwork = 0;
            const cusolverStatus_t st = gesvdj_buffer(solver, int(m), int(n), A.get(), int(m), S.get(), U.data(), int(m),
                                                      V.data(), int(n), &lwork, gp);
            *db = sizeof(T) * std::size_t(std::max(lwork, 0));
            *hb = 0;
            return st;
          },
          [&](void* dw, std::size_t db, void*, std::size_t, int* d_info) {
            return gesvdj_run(solver, int(m), int(n), A.get(), int(m), S.get(), U.data(), int(m), V.data(), int(n),
                              static_cast<T*>(dw), int(db / sizeof(T)), d_info, gp);
          },
          t0.get(), t1.get());
      check_info(inf, info.driver, shape_str(m, n) + (inf > 0 ? ": Jacobi sweeps did not converge" : ""));
      double res = 0;
      int sweeps = 0;
      LR_CHECK(cusolverDnXgesvdjGetResidual(solver, gp, &res));
      LR_CHECK(cusolverDnXgesvdjGetSweeps(solver, gp, &sweeps));
      info.driver_residual = res;
      info.sweeps = sweeps;
    } else if (driver == SvdDriver::gesvdp) {
      info.driver = "cusolverDnXgesvdp";
      double err_sigma = 0;
      const int inf = solver_call(
          "cusolverDnXgesvdp",
          [&](std::size_t* db, std::size_t* hb) {
            return cusolverDnXgesvdp_bufferSize(solver, params, CUSOLVER_EIG_MODE_VECTOR, 1, m, n, data_type<T>(),
                                                A.get(), m, data_type<T>(), S.get(), data_type<T>(), U.data(), m,
                                                data_type<T>(), V.data(), n, data_type<T>(), db, hb);
          },
          [&](void* dw, std::size_t db, void* hw, std::size_t hb, int* d_info) {
            return cusolverDnXgesvdp(solver, params, CUSOLVER_EIG_MODE_VECTOR, 1, m, n, data_type<T>(), A.get(), m,
                                     data_type<T>(), S.get(), data_type<T>(), U.data(), m, data_type<T>(), V.data(), n,
                                     data_type<T>(), dw, db, hw, hb, d_info, &err_sigma);
          },
          t0.get(), t1.get());
      check_info(inf, "cusolverDnXgesvdp", shape_str(m, n));
      info.driver_residual = err_sigma;  // perturbation added near zero singular values (0 if none)
    } else {
      info.driver = "cusolverDnXgesvdr";
      const int64_t iters = opt.gesvdr_iters;
      const int inf = solver_call(
          "cusolverDnXgesvdr",
          [&](std::size_t* db, std::size_t* hb) {
            return cusolverDnXgesvdr_bufferSize(solver, params, 'S', 'S', m, n, k, p, iters, data_type<T>(), A.get(), m,
                                                data_type<T>(), S.get(), data_type<T>(), U.data(), m, data_type<T>(),
                                                V.data(), n, data_type<T>(), db, hb);
          },
          [&](void* dw, std::size_t db, void* hw, std::size_t hb, int* d_info) {
            return cusolverDnXgesvdr(solver, params, 'S', 'S', m, n, k, p, iters, data_type<T>(), A.get(), m,
                                     data_type<T>(), S.get(), data_type<T>(), U.data(), m, data_type<T>(), V.data(), n,
                                     data_type<T>(), dw, db, hw, hb, d_info);
          },
          t0.get(), t1.get());
      check_info(inf, "cusolverDnXgesvdr", shape_str(m, n) + ", k = " + std::to_string(k) + ", p = " +
                                                             std::to_string(p));
      info.note += "randomized: k = " + std::to_string(k) + ", p = " + std::to_string(p) + ", " +
                   std::to_string(iters) + " power iterations";
    }
    sync();
    info.seconds = elapsed_s(t0, t1);

    // Accuracy on the device (--verify): ||A V - U S||_F / ||A||_F, ||I - U^T U||_F, ||I - V^T V||_F.
    if (opt.verify) {
      DeviceBuffer<T> US(std::size_t(m) * k), C(std::size_t(k) * k);
      LR_CHECK(cudaMemcpyAsync(US.get(), U.data(), sizeof(T) * m * k, cudaMemcpyDeviceToDevice, compute));
      LR_CHECK(dgmm(blas, CUBLAS_SIDE_RIGHT, m, k, US.get(), m, S.get()));
      LR_CHECK(blas_gemm(blas, CUBLAS_OP_N, CUBLAS_OP_N, m, k, n, T(1), A0->get(), m, V.data(), n, T(-1), US.get(), m));
      T res = 0, anorm = 0, ou = 0, ov = 0;
      LR_CHECK(nrm2(blas, m * k, US.get(), &res));
      LR_CHECK(nrm2(blas, m * n, A0->get(), &anorm));
      LR_CHECK(blas_gemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, k, k, m, T(1), U.data(), m, U.data(), m, T(0), C.get(), k));
      cuda_kernels::add_diagonal(C.get(), k, k, T(-1), compute);
      LR_LAUNCHED("add_diagonal");
      LR_CHECK(nrm2(blas, k * k, C.get(), &ou));
      LR_CHECK(blas_gemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, k, k, n, T(1), V.data(), n, V.data(), n, T(0), C.get(), k));
      cuda_kernels::add_diagonal(C.get(), k, k, T(-1), compute);
      LR_LAUNCHED("add_diagonal");
      LR_CHECK(nrm2(blas, k * k, C.get(), &ov));
      sync();
      info.residual = anorm > 0 ? double(res) / double(anorm) : double(res);
      info.orth_u = double(ou);
      info.orth_v = double(ov);
    }

    if (V.cols() != k) V = left_cols(V.data(), n, k);  // gesvdr: room for n columns, k of them used
    ThinSvd<T, DeviceMatrix<T>> out_svd = oriented_svd<T, DeviceMatrix<T>>(
        std::move(U), Vec<T>(download(S.get(), k, 1, k).col(0)), std::move(V), transposed);
    info.m = m0;
    info.n = n0;
    log.push_back(info);
    if (out) *out = info;
    return out_svd;
  }
};

// ====================================================================================
template <class T> std::string CudaBackend<T>::unavailable_reason(int device) {
  int count = 0;
  const cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    cudaGetLastError();  // clear the sticky-free error state
    return std::string("no CUDA device: cudaGetDeviceCount: ") + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")";
  }
  if (count == 0) return "no CUDA device: cudaGetDeviceCount found 0 devices";
  if (device < 0 || device >= count)
    return "no CUDA device: device " + std::to_string(device) + " requested, " + std::to_string(count) + " present";
  return "";
}

template <class T> CudaBackend<T>::CudaBackend(CudaOptions opt) {
  const std::string why = unavailable_reason(opt.device);
  if (!why.empty()) throw Error(why);
  if (opt.gesvdr_iters < 0) throw Error("gesvdr iterations must be >= 0");
  impl_ = std::make_unique<Impl>(opt);
}
template <class T> CudaBackend<T>::~CudaBackend() = default;
template <class T> CudaBackend<T>::CudaBackend(CudaBackend&&) noexcept = default;
template <class T> CudaBackend<T>& CudaBackend<T>::operator=(CudaBackend&&) noexcept = default;

template <class T> std::string CudaBackend<T>::precision() const { return ScalarTraits<T>::name(); }

// ---------- DeviceMatrix ----------
template <class T> void DeviceMatrix<T>::Free::operator()(T* p) const noexcept {
  if (p) cudaFree(p);
}
template <class T> DeviceMatrix<T> DeviceMatrix<T>::allocate(Index rows, Index cols) {
  if (rows < 0 || cols < 0) throw Error("device matrix of negative shape " + shape_str(rows, cols));
  DeviceMatrix<T> M;
  M.rows_ = rows;
  M.cols_ = cols;
  const std::size_t bytes = sizeof(T) * std::size_t(rows) * std::size_t(cols);
  if (bytes == 0) return M;
  void* p = nullptr;
  const cudaError_t e = cudaMalloc(&p, bytes);
  if (e != cudaSuccess)
    throw Error("CUDA: cudaMalloc of " + std::to_string(bytes) + " bytes for a " + shape_str(rows, cols) +
                " matrix failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  M.p_.reset(static_cast<T*>(p));
  return M;
}

// ---------- the seam on device matrices ----------
template <class T> DeviceMatrix<T> CudaBackend<T>::accumulate_r(RowBlockSource& X, Index block_rows) {
  return impl_->stream(Impl::Op::tsqr, &X, nullptr, block_rows);
}
template <class T> DeviceMatrix<T> CudaBackend<T>::accumulate_gram(RowBlockSource& X, Index block_rows) {
  return impl_->stream(Impl::Op::gram, &X, nullptr, block_rows);
}
template <class T> Mat<T> CudaBackend<T>::accumulate_r(const HostRows<T>& X, Index block_rows) {
  return download(impl_->stream(Impl::Op::tsqr, nullptr, &X, block_rows));
}
template <class T> Mat<T> CudaBackend<T>::accumulate_gram(const HostRows<T>& X, Index block_rows) {
  return download(impl_->stream(Impl::Op::gram, nullptr, &X, block_rows));
}

template <class T> DeviceMatrix<T> CudaBackend<T>::upload(const Mat<T>& M) {
  DeviceMatrix<T> D = DeviceMatrix<T>::allocate(M.rows(), M.cols());
  if (D.size())
    LR_CHECK(cudaMemcpyAsync(D.data(), M.data(), sizeof(T) * std::size_t(M.size()), cudaMemcpyHostToDevice,
                             impl_->compute));
  impl_->sync();  // M may go as soon as this returns
  return D;
}
template <class T> Mat<T> CudaBackend<T>::download(const DeviceMatrix<T>& M) {
  if (M.size() == 0) return Mat<T>(M.rows(), M.cols());
  return impl_->download(M.data(), M.rows(), M.cols(), M.rows());
}
template <class T> DeviceMatrix<T> CudaBackend<T>::copy(const DeviceMatrix<T>& M) {
  return impl_->left_cols(M.data(), M.rows(), M.cols());
}
template <class T> DeviceMatrix<T> CudaBackend<T>::zeros(Index rows, Index cols) { return impl_->zeros(rows, cols); }
template <class T> DeviceMatrix<T> CudaBackend<T>::left_cols(const DeviceMatrix<T>& M, Index k) {
  if (k < 0 || k > M.cols())
    throw Error("left_cols: " + std::to_string(k) + " columns of a " + shape_str(M.rows(), M.cols()) + " matrix");
  return impl_->left_cols(M.data(), M.rows(), k);
}
template <class T> DeviceMatrix<T> CudaBackend<T>::hcat(const DeviceMatrix<T>& A, const DeviceMatrix<T>& B) {
  if (A.rows() != B.rows())
    throw Error("hcat: " + shape_str(A.rows(), A.cols()) + " beside " + shape_str(B.rows(), B.cols()));
  DeviceMatrix<T> C = DeviceMatrix<T>::allocate(A.rows(), A.cols() + B.cols());
  if (A.size())
    LR_CHECK(cudaMemcpyAsync(C.data(), A.data(), sizeof(T) * std::size_t(A.size()), cudaMemcpyDeviceToDevice,
                             impl_->compute));
  if (B.size())
    LR_CHECK(cudaMemcpyAsync(C.data() + A.size(), B.data(), sizeof(T) * std::size_t(B.size()),
                             cudaMemcpyDeviceToDevice, impl_->compute));
  return C;
}
template <class T> void CudaBackend<T>::scale_columns(DeviceMatrix<T>& M, const Vec<T>& d) {
  if (d.size() != M.cols())
    throw Error("scale_columns: " + std::to_string(d.size()) + " factors for " + std::to_string(M.cols()) + " columns");
  impl_->scale(M, d, CUBLAS_SIDE_RIGHT);
}
template <class T> void CudaBackend<T>::scale_rows(DeviceMatrix<T>& M, const Vec<T>& d) {
  if (d.size() != M.rows())
    throw Error("scale_rows: " + std::to_string(d.size()) + " factors for " + std::to_string(M.rows()) + " rows");
  impl_->scale(M, d, CUBLAS_SIDE_LEFT);
}
template <class T> void CudaBackend<T>::add_diagonal(DeviceMatrix<T>& M, T a) {
  // M(i, i) += a for i < min(rows, cols), as HostMatrixOps does.
  cuda_kernels::add_diagonal(M.data(), M.rows(), std::min(M.rows(), M.cols()), a, impl_->compute);
  LR_LAUNCHED("add_diagonal");
}
template <class T> Vec<T> CudaBackend<T>::diagonal(const DeviceMatrix<T>& M) {
  const Index k = std::min(M.rows(), M.cols());
  Vec<T> d(k);
  if (k == 0) return d;
  // Element (i, i) every rows + 1 elements: one strided copy.
  LR_CHECK(cudaMemcpy2DAsync(d.data(), sizeof(T), M.data(), sizeof(T) * std::size_t(M.rows() + 1), sizeof(T), k,
                             cudaMemcpyDeviceToHost, impl_->compute));
  impl_->sync();
  return d;
}
template <class T> std::vector<double> CudaBackend<T>::column_sq_norms(const DeviceMatrix<T>& M) {
  std::vector<double> out(std::size_t(M.cols()), 0.0);
  if (M.cols() == 0 || M.rows() == 0) return out;
  DeviceBuffer<double> d(std::size_t(M.cols()));
  cuda_kernels::column_sq_norms(M.data(), M.rows(), M.cols(), M.rows(), d.get(), impl_->compute);
  LR_LAUNCHED("column_sq_norms");
  LR_CHECK(cudaMemcpyAsync(out.data(), d.get(), sizeof(double) * out.size(), cudaMemcpyDeviceToHost, impl_->compute));
  impl_->sync();
  return out;
}
template <class T> T CudaBackend<T>::squared_norm(const DeviceMatrix<T>& M) {
  if (M.size() == 0) return T(0);
  T v = 0;
  LR_CHECK(nrm2(impl_->blas, M.size(), M.data(), &v));  // host pointer mode: returns when done
  return v * v;
}
template <class T> T CudaBackend<T>::dot(const DeviceMatrix<T>& A, const DeviceMatrix<T>& B) {
  if (A.rows() != B.rows() || A.cols() != B.cols())
    throw Error("dot: " + shape_str(A.rows(), A.cols()) + " and " + shape_str(B.rows(), B.cols()));
  if (A.size() == 0) return T(0);
  T v = 0;
  LR_CHECK(blas_dot(impl_->blas, A.size(), A.data(), B.data(), &v));
  return v;
}
template <class T> bool CudaBackend<T>::all_finite(const DeviceMatrix<T>& M) {
  return impl_->all_finite(M.data(), M.size());
}
template <class T> void CudaBackend<T>::axpby(T alpha, const DeviceMatrix<T>& X, T beta, DeviceMatrix<T>& Y) {
  check_axpby_shapes(X, Y);
  if (Y.size() == 0) return;
  // C = alpha X + beta Y with C = Y: cuBLAS's documented in-place form (C = B, ldc = ldb, op N).
  LR_CHECK(geam_nn(impl_->blas, Y.rows(), Y.cols(), alpha, X.data(), X.rows(), beta, Y.data(), Y.rows(), Y.data(),
                   Y.rows()));
}
template <class T>
ResidualSums<T> CudaBackend<T>::masked_residual(const DeviceMatrix<T>& P, const DeviceMatrix<T>& Phi,
                                                const DeviceMatrix<T>& mask, T c, DeviceMatrix<T>& E) {
  check_masked_residual_shapes(P, Phi, mask);
  const bool full = mask.size() == 0;
  if (E.rows() != P.rows() || E.cols() != P.cols()) E = DeviceMatrix<T>::allocate(P.rows(), P.cols());
  if (P.size() == 0) return {T(0), T(0)};
  const unsigned blocks = cuda_kernels::residual_blocks(P.size());
  DeviceBuffer<double> partial(2 * std::size_t(blocks));
  cuda_kernels::masked_residual(P.data(), Phi.data(), full ? nullptr : mask.data(), c, E.data(), P.size(),
                                partial.get(), impl_->compute);
  LR_LAUNCHED("masked_residual");
  std::vector<double> h(2 * std::size_t(blocks));
  LR_CHECK(cudaMemcpyAsync(h.data(), partial.get(), sizeof(double) * h.size(), cudaMemcpyDeviceToHost,
                           impl_->compute));
  impl_->sync();
  double seen = 0, unseen = 0;
  for (unsigned b = 0; b < blocks; ++b) seen += h[2 * b], unseen += h[2 * b + 1];
  // Under full observation every entry is "seen"; the contract (and the host) return the same sum
  // for the unseen ones (the kernel, with mask = 1, summed (x - x) x = 0 there).
  if (full) unseen = seen;
  return {T(seen), T(unseen)};
}

template <class T> DeviceMatrix<T> CudaBackend<T>::stack_r(const DeviceMatrix<T>& R, const DeviceMatrix<T>& rows) {
  if (R.rows() > 0 && R.cols() != rows.cols())
    throw Error("stack_r: R is " + shape_str(R.rows(), R.cols()) + " but the rows are " +
                shape_str(rows.rows(), rows.cols()));
  const Index n = rows.cols(), m = R.rows() + rows.rows();
  if (n == 0 || m == 0) return impl_->zeros(std::min(m, n), n);
  Impl& I = *impl_;
  // A = [R; rows] (m x n), factored in place; the upper triangle of its top k rows is the answer.
  DeviceBuffer<T> A(std::size_t(m) * std::size_t(n));
  if (R.size())
    LR_CHECK(cudaMemcpy2DAsync(A.get(), sizeof(T) * m, R.data(), sizeof(T) * R.rows(), sizeof(T) * R.rows(), n,
                               cudaMemcpyDeviceToDevice, I.compute));
  if (rows.size())
    LR_CHECK(cudaMemcpy2DAsync(A.get() + R.rows(), sizeof(T) * m, rows.data(), sizeof(T) * rows.rows(),
                               sizeof(T) * rows.rows(), n, cudaMemcpyDeviceToDevice, I.compute));
  DeviceBuffer<T> tau(std::size_t(std::min(m, n)));
  I.geqrf(m, n, A.get(), m, tau.get(), I.info1.get());
  Impl::check_info(I.read_info(I.info1.get()), "cusolverDnXgeqrf", "stack_r on " + shape_str(m, n));
  const Index k = std::min(m, n);
  DeviceMatrix<T> top = DeviceMatrix<T>::allocate(k, n);
  cuda_kernels::take_upper(A.get(), m, k, top.data(), k, k, n, I.compute);
  LR_LAUNCHED("take_upper");
  I.sync();
  return top;
}

template <class T> ThinSvd<T, DeviceMatrix<T>> CudaBackend<T>::svd(const DeviceMatrix<T>& M) {
  return impl_->svd(M, impl_->opt.svd, impl_->opt.svd_rank, nullptr);
}
template <class T>
ThinSvd<T, DeviceMatrix<T>> CudaBackend<T>::svd(const DeviceMatrix<T>& M, SvdDriver driver, Index rank,
                                                 SvdCallInfo* info) {
  return impl_->svd(M, driver, rank, info);
}

// Singular values only (jobu = jobvt = 'N'): the numerical rank of X needs no vectors.
template <class T> Vec<T> CudaBackend<T>::singular_values(const DeviceMatrix<T>& M) {
  const Index m0 = M.rows(), n0 = M.cols();
  if (m0 == 0 || n0 == 0) return Vec<T>(0);
  Impl& I = *impl_;
  if (!I.all_finite(M.data(), M.size()))
    throw Error("singular_values: the " + shape_str(m0, n0) + " matrix contains NaN or Inf");
  const bool transposed = m0 < n0;  // Xgesvd needs m >= n
  const int64_t m = transposed ? n0 : m0, n = transposed ? m0 : n0;
  DeviceBuffer<T> A = I.oriented_copy(M, transposed), S(static_cast<std::size_t>(n));
  const int info = I.solver_call(
      "cusolverDnXgesvd",
      [&](std::size_t* db, std::size_t* hb) {
        return cusolverDnXgesvd_bufferSize(I.solver, I.params, 'N', 'N', m, n, data_type<T>(), A.get(), m,
                                           data_type<T>(), S.get(), data_type<T>(), nullptr, m, data_type<T>(), nullptr,
                                           n, data_type<T>(), db, hb);
      },
      [&](void* dw, std::size_t db, void* hw, std::size_t hb, int* d_info) {
        return cusolverDnXgesvd(I.solver, I.params, 'N', 'N', m, n, data_type<T>(), A.get(), m, data_type<T>(), S.get(),
                                data_type<T>(), nullptr, m, data_type<T>(), nullptr, n, data_type<T>(), dw, db, hw, hb,
                                d_info);
      });
  Impl::check_info(info, "cusolverDnXgesvd (values only)",
                   shape_str(m, n) + (info > 0 ? ": bidiagonal QR iteration did not converge" : ""));
  return I.download(S.get(), n, 1, n).col(0);
}

template <class T> SymEig<T, DeviceMatrix<T>> CudaBackend<T>::eigh(const DeviceMatrix<T>& G) {
  return eigh_impl(G, true);
}
template <class T> Vec<T> CudaBackend<T>::eigenvalues(const DeviceMatrix<T>& G) { return eigh_impl(G, false).values; }

template <class T> SymEig<T, DeviceMatrix<T>> CudaBackend<T>::eigh_impl(const DeviceMatrix<T>& G, bool vectors) {
  const cusolverEigMode_t mode = vectors ? CUSOLVER_EIG_MODE_VECTOR : CUSOLVER_EIG_MODE_NOVECTOR;
  if (G.rows() != G.cols()) throw Error("eigh: matrix is " + shape_str(G.rows(), G.cols()) + ", expected square");
  const Index n = G.rows();
  if (n == 0) return {Vec<T>(0), DeviceMatrix<T>()};
  Impl& I = *impl_;
  if (!I.all_finite(G.data(), G.size())) throw Error("eigh: the " + shape_str(n, n) + " matrix contains NaN or Inf");
  DeviceMatrix<T> A = copy(G);  // overwritten by the eigenvectors
  DeviceBuffer<T> W(static_cast<std::size_t>(n));
  const int info = I.solver_call(
      "cusolverDnXsyevd",
      [&](std::size_t* db, std::size_t* hb) {
        return cusolverDnXsyevd_bufferSize(I.solver, I.params, mode, CUBLAS_FILL_MODE_LOWER, n, data_type<T>(),
                                           A.data(), n, data_type<T>(), W.get(), data_type<T>(), db, hb);
      },
      [&](void* dw, std::size_t db, void* hw, std::size_t hb, int* d_info) {
        return cusolverDnXsyevd(I.solver, I.params, mode, CUBLAS_FILL_MODE_LOWER, n, data_type<T>(), A.data(), n,
                                data_type<T>(), W.get(), data_type<T>(), dw, db, hw, hb, d_info);
      });
  Impl::check_info(info, "cusolverDnXsyevd", shape_str(n, n) + (info > 0 ? ": eigenvalue iteration did not converge" : ""));
  SymEig<T, DeviceMatrix<T>> out;
  out.values = I.download(W.get(), n, 1, n).col(0);
  out.vectors = vectors ? std::move(A) : DeviceMatrix<T>::allocate(n, 0);
  return out;
}

template <class T> bool CudaBackend<T>::cholesky_lower(const DeviceMatrix<T>& G, DeviceMatrix<T>& L) {
  if (G.rows() != G.cols()) throw Error("cholesky: matrix is " + shape_str(G.rows(), G.cols()) + ", expected square");
  const Index n = G.rows();
  Impl& I = *impl_;
  I.potrf_seconds = 0;
  if (n == 0) {
    L = DeviceMatrix<T>();
    return true;
  }
  DeviceMatrix<T> A = copy(G);
  Event t0, t1;
  const int info = I.solver_call(
      "cusolverDnXpotrf",
      [&](std::size_t* db, std::size_t* hb) {
        return cusolverDnXpotrf_bufferSize(I.solver, I.params, CUBLAS_FILL_MODE_LOWER, n, data_type<T>(), A.data(), n,
                                           data_type<T>(), db, hb);
      },
      [&](void* dw, std::size_t db, void* hw, std::size_t hb, int* d_info) {
        return cusolverDnXpotrf(I.solver, I.params, CUBLAS_FILL_MODE_LOWER, n, data_type<T>(), A.data(), n,
                                data_type<T>(), dw, db, hw, hb, d_info);
      },
      t0.get(), t1.get());
  I.potrf_seconds = elapsed_s(t0, t1);
  if (info < 0) Impl::check_info(info, "cusolverDnXpotrf", shape_str(n, n));
  if (info > 0) return false;  // leading minor of order info is not positive definite: breakdown
  // L = the lower triangle (the upper one still holds G): the transpose of take_upper of A^T.
  DeviceMatrix<T> At = zeros(n, n), Lt = DeviceMatrix<T>::allocate(n, n);
  LR_CHECK(transpose_into(I.blas, n, n, A.data(), n, At.data(), n));
  cuda_kernels::take_upper(At.data(), n, n, Lt.data(), n, n, n, I.compute);
  LR_LAUNCHED("take_upper");
  LR_CHECK(cudaMemsetAsync(A.data(), 0, sizeof(T) * std::size_t(A.size()), I.compute));
  LR_CHECK(transpose_into(I.blas, n, n, Lt.data(), n, A.data(), n));
  if (!I.all_finite(A.data(), A.size())) return false;  // NaN/Inf pivots that potrf let through are a breakdown too
  L = std::move(A);
  return true;
}

template <class T> DeviceMatrix<T> CudaBackend<T>::inverse(const DeviceMatrix<T>& M) {
  if (M.rows() != M.cols()) throw Error("inverse: matrix is " + shape_str(M.rows(), M.cols()) + ", expected square");
  const Index n = M.rows();
  if (n == 0) return DeviceMatrix<T>();
  Impl& I = *impl_;
  DeviceMatrix<T> A = copy(M), B = zeros(n, n);
  DeviceBuffer<int64_t> ipiv(static_cast<std::size_t>(n));
  const int info = I.solver_call(
      "cusolverDnXgetrf",
      [&](std::size_t* db, std::size_t* hb) {
        return cusolverDnXgetrf_bufferSize(I.solver, I.params, n, n, data_type<T>(), A.data(), n, data_type<T>(), db,
                                           hb);
      },
      [&](void* dw, std::size_t db, void* hw, std::size_t hb, int* d_info) {
        return cusolverDnXgetrf(I.solver, I.params, n, n, data_type<T>(), A.data(), n, ipiv.get(), data_type<T>(), dw,
                                db, hw, hb, d_info);
      });
  Impl::check_info(info, "cusolverDnXgetrf",
                   shape_str(n, n) + (info > 0 ? ": U(" + std::to_string(info) + "," + std::to_string(info) +
                                                     ") is exactly zero, the matrix is singular"
                                               : std::string()));
  cuda_kernels::add_diagonal(B.data(), n, n, T(1), I.compute);
  LR_LAUNCHED("add_diagonal");
  LR_CHECK(cusolverDnXgetrs(I.solver, I.params, CUBLAS_OP_N, n, n, data_type<T>(), A.data(), n, ipiv.get(),
                            data_type<T>(), B.data(), n, I.info1.get()));
  Impl::check_info(I.read_info(I.info1.get()), "cusolverDnXgetrs", shape_str(n, n));
  return B;
}

template <class T>
void CudaBackend<T>::gemm(bool trans_a, bool trans_b, T alpha, const DeviceMatrix<T>& A, const DeviceMatrix<T>& B,
                          T beta, DeviceMatrix<T>& C) {
  const Index m = trans_a ? A.cols() : A.rows(), k = trans_a ? A.rows() : A.cols();
  const Index kb = trans_b ? B.cols() : B.rows(), n = trans_b ? B.rows() : B.cols();
  if (k != kb) throw Error("cuda gemm: op(A) is " + shape_str(m, k) + " but op(B) is " + shape_str(kb, n));
  if (C.data() != nullptr && (C.data() == A.data() || C.data() == B.data()))
    throw Error("cuda gemm: C shares storage with A or B");
  const bool accumulate = beta != T(0);
  if (accumulate && (C.rows() != m || C.cols() != n))
    throw Error("cuda gemm: C is " + shape_str(C.rows(), C.cols()) + ", op(A) op(B) is " + shape_str(m, n));
  if (!accumulate && (C.rows() != m || C.cols() != n)) C = DeviceMatrix<T>::allocate(m, n);
  if (m == 0 || n == 0) return;
  Impl& I = *impl_;
  if (k == 0) {
    if (!accumulate) LR_CHECK(cudaMemsetAsync(C.data(), 0, sizeof(T) * std::size_t(C.size()), I.compute));
    else if (alpha != T(0) || beta != T(1)) {
      // beta C alone: a product with an empty inner dimension.
      Vec<T> b = Vec<T>::Constant(n, beta);
      scale_columns(C, b);
    }
    return;
  }
  LR_CHECK(device_gemm<T>(I.blas, trans_a, trans_b, m, n, k, alpha, A.data(), std::max<Index>(1, A.rows()), B.data(),
                          std::max<Index>(1, B.rows()), beta, C.data(), m));
}

// ---------- the same on host matrices: upload, the device operation, download ----------
template <class T> Mat<T> CudaBackend<T>::stack_r(const Mat<T>& R, const Mat<T>& rows) {
  return download(stack_r(upload(R), upload(rows)));
}
template <class T> ThinSvd<T> CudaBackend<T>::svd(const Mat<T>& M) {
  return svd(M, impl_->opt.svd, impl_->opt.svd_rank, nullptr);
}
template <class T>
ThinSvd<T> CudaBackend<T>::svd(const Mat<T>& M, SvdDriver driver, Index rank, SvdCallInfo* info) {
  ThinSvd<T, DeviceMatrix<T>> d = impl_->svd(upload(M), driver, rank, info);
  return ThinSvd<T>{download(d.U), std::move(d.s), download(d.V)};
}
template <class T> SymEig<T> CudaBackend<T>::eigh(const Mat<T>& G) {
  SymEig<T, DeviceMatrix<T>> e = eigh_impl(upload(G), true);
  return SymEig<T>{std::move(e.values), download(e.vectors)};
}
template <class T> Vec<T> CudaBackend<T>::singular_values(const Mat<T>& M) { return singular_values(upload(M)); }
template <class T> Vec<T> CudaBackend<T>::eigenvalues(const Mat<T>& G) { return eigh_impl(upload(G), false).values; }
template <class T> bool CudaBackend<T>::cholesky_lower(const Mat<T>& G, Mat<T>& L) {
  DeviceMatrix<T> dL;
  if (!cholesky_lower(upload(G), dL)) return false;
  L = download(dL);
  return true;
}
template <class T> Mat<T> CudaBackend<T>::inverse(const Mat<T>& M) { return download(inverse(upload(M))); }
template <class T>
void CudaBackend<T>::gemm(bool trans_a, bool trans_b, T alpha, const Mat<T>& A, const Mat<T>& B, T beta, Mat<T>& C) {
  if (C.data() != nullptr && (C.data() == A.data() || C.data() == B.data()))
    throw Error("cuda gemm: C shares storage with A or B");
  DeviceMatrix<T> dC = beta != T(0) ? upload(C) : DeviceMatrix<T>();
  gemm(trans_a, trans_b, alpha, upload(A), upload(B), beta, dC);
  C = download(dC);
}

template <class T> Mat<T> CudaBackend<T>::qr_r_in_memory(const HostRows<T>& X, double* geqrf_seconds) {
  Impl& I = *impl_;
  const Index N = X.rows, n = X.cols;
  if (n == 0) return Mat<T>(0, 0);
  if (N == 0) return Mat<T>::Zero(n, n);
  const double need = double(N) * double(n) * sizeof(T);
  const double avail = double(free_device_bytes());
  if (need > 0.9 * avail)
    throw Error("in-memory QR: X (" + shape_str(N, n) + ", " + gib(need) + ") does not fit in free device memory (" +
                gib(avail) + ")");
  // Upload X^T... as the N x n column-major matrix A (one row per token), through the streaming
  // copy path with the device cap lifted: chunks of rows, then one geqrf.
  DeviceBuffer<T> A(std::size_t(N) * n);
  const Index chunk = std::min<Index>(N, 8192);
  DeviceBuffer<T> stage(std::size_t(chunk) * n);
  const Index period = X.period_rows > 0 ? X.period_rows : N;
  for (Index r0 = 0; r0 < N; r0 += chunk) {
    const Index b = std::min(chunk, N - r0);
    Index off = 0;
    while (off < b) {
      const Index p0 = (r0 + off) % period;
      const Index len = std::min(b - off, period - p0);
      if (X.row_major)
        LR_CHECK(cudaMemcpy2DAsync(stage.get() + std::size_t(off) * n, sizeof(T) * n, X.data + std::size_t(p0) * X.ld,
                                   sizeof(T) * X.ld, sizeof(T) * n, len, cudaMemcpyHostToDevice, I.compute));
      else
        LR_CHECK(cudaMemcpy2DAsync(A.get() + r0 + off, sizeof(T) * N, X.data + p0, sizeof(T) * X.ld, sizeof(T) * len, n,
                                   cudaMemcpyHostToDevice, I.compute));
      off += len;
    }
    if (X.row_major) LR_CHECK(transpose_into(I.blas, b, n, stage.get(), n, A.get() + r0, N));
  }
  DeviceBuffer<T> tau(std::size_t(std::min(N, n)));
  I.sync();
  Event t0, t1;
  std::size_t hbytes = 0;
  I.device_workspace(I.geqrf_work(N, n, A.get(), N, tau.get(), &hbytes));
  I.host_workspace(hbytes);
  LR_CHECK(cudaEventRecord(t0.get(), I.compute));
  I.geqrf(N, n, A.get(), N, tau.get(), I.info1.get());
  LR_CHECK(cudaEventRecord(t1.get(), I.compute));
  Impl::check_info(I.read_info(I.info1.get()), "cusolverDnXgeqrf", "in-memory QR of " + shape_str(N, n));
  if (geqrf_seconds) *geqrf_seconds = elapsed_s(t0, t1);
  const Index k = std::min(N, n);
  Mat<T> R = Mat<T>::Zero(n, n);
  R.topRows(k) = I.download(A.get(), k, n, N).template triangularView<Eigen::Upper>();
  return R;
}

template <class T> double CudaBackend<T>::last_potrf_seconds() const { return impl_->potrf_seconds; }

template <class T> void* CudaBackend<T>::stream_handle() const { return static_cast<void*>(impl_->compute); }

template <class T> void CudaBackend<T>::qr_r_device(T* A, Index m, Index n, Index lda) {
  if (m < 0 || n < 0 || lda < std::max<Index>(m, 1))
    throw Error("qr_r_device: bad shape " + shape_str(m, n) + " with lda = " + std::to_string(lda));
  if (m == 0 || n == 0) return;
  Impl& I = *impl_;
  const Index k = std::min(m, n);
  DeviceBuffer<T> tau{static_cast<std::size_t>(k)};
  I.geqrf(m, n, A, lda, tau.get(), I.info1.get());
  Impl::check_info(I.read_info(I.info1.get()), "cusolverDnXgeqrf", "qr_r_device on " + shape_str(m, n));
  cuda_kernels::take_upper(A, lda, k, A, lda, m, n, I.compute);
  LR_LAUNCHED("take_upper");
  I.sync();
}

template <class T> double CudaBackend<T>::measure_gemm_gflops(Index n, int reps) {
  Impl& I = *impl_;
  DeviceBuffer<T> A(std::size_t(n) * n), B(std::size_t(n) * n), C(std::size_t(n) * n);
  cuda_kernels::fill_pattern(A.get(), n * n, 1, I.compute);
  cuda_kernels::fill_pattern(B.get(), n * n, 2, I.compute);
  LR_LAUNCHED("fill_pattern");
  LR_CHECK(blas_gemm(I.blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, T(1), A.get(), n, B.get(), n, T(0), C.get(), n));  // warm-up
  std::vector<double> t;
  for (int r = 0; r < std::max(1, reps); ++r) {
    Event t0, t1;
    LR_CHECK(cudaEventRecord(t0.get(), I.compute));
    LR_CHECK(blas_gemm(I.blas, CUBLAS_OP_N, CUBLAS_OP_N, n, n, n, T(1), A.get(), n, B.get(), n, T(0), C.get(), n));
    LR_CHECK(cudaEventRecord(t1.get(), I.compute));
    I.sync();
    t.push_back(elapsed_s(t0, t1));
  }
  std::sort(t.begin(), t.end());
  const double med = t[t.size() / 2];
  return 2.0 * double(n) * double(n) * double(n) / med * 1e-9;
}

template <class T> std::shared_ptr<T> CudaBackend<T>::alloc_pinned(std::size_t count) {
  void* p = nullptr;
  const cudaError_t e = cudaMallocHost(&p, std::max<std::size_t>(count, 1) * sizeof(T));
  if (e != cudaSuccess)
    throw Error("CUDA: cudaMallocHost of " + std::to_string(count * sizeof(T)) + " bytes failed: " +
                cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + ")");
  return std::shared_ptr<T>(static_cast<T*>(p), [](T* q) { cudaFreeHost(q); });
}

template <class T> const StreamStats& CudaBackend<T>::last_stream() const { return impl_->stats; }
template <class T> const std::vector<SvdCallInfo>& CudaBackend<T>::svd_log() const { return impl_->log; }
template <class T> void CudaBackend<T>::clear_svd_log() { impl_->log.clear(); }
template <class T> const CudaOptions& CudaBackend<T>::options() const { return impl_->opt; }
template <class T> void CudaBackend<T>::set_options(const CudaOptions& opt) {
  if (opt.device != impl_->opt.device) throw Error("set_options: the device cannot change after construction");
  if (opt.gesvdr_iters < 0) throw Error("gesvdr iterations must be >= 0");
  impl_->opt = opt;
}

template <class T> DeviceInfo CudaBackend<T>::device_info() const {
  DeviceInfo d;
  cudaDeviceProp p{};
  LR_CHECK(cudaGetDeviceProperties(&p, impl_->opt.device));
  int clock_khz = 0;
  LR_CHECK(cudaDeviceGetAttribute(&clock_khz, cudaDevAttrClockRate, impl_->opt.device));
  d.name = p.name;
  d.sm_major = p.major;
  d.sm_minor = p.minor;
  d.multiprocessors = p.multiProcessorCount;
  d.clock_ghz = clock_khz * 1e-6;
  d.total_bytes = double(p.totalGlobalMem);
  // Flops per SM per clock (FMA = 2): V100 7.0, A100 8.0, consumer Ampere/Ada 8.6/8.9, H100 9.0,
  // Blackwell 10.x (vector FP64 rate used for its tensor FP64 too).
  double f32 = 0, f64 = 0, f64t = 0;
  const int cc = p.major * 10 + p.minor;
  if (cc == 70) { f32 = 128; f64 = 64; }
  else if (cc == 80) { f32 = 128; f64 = 64; f64t = 128; }
  else if (cc == 86 || cc == 89) { f32 = 256; f64 = 4; }
  else if (cc == 90) { f32 = 256; f64 = 128; f64t = 256; }
  else if (p.major == 10) { f32 = 256; f64 = 128; f64t = 128; }
  const double sm_ghz = d.multiprocessors * d.clock_ghz;
  d.peak_fp32_gflops = f32 * sm_ghz;
  d.peak_fp64_gflops = f64 * sm_ghz;
  d.peak_fp64_tensor_gflops = std::max(f64t, f64) * sm_ghz;
  return d;
}

template class DeviceMatrix<float>;
template class DeviceMatrix<double>;
template class CudaBackend<float>;
template class CudaBackend<double>;

}  // namespace lowrank
