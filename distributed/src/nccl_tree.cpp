// The NCCL tree (nccl_tree.hpp). Compiled only with the CUDA backend and NCCL.
#include "lowrank/distributed/nccl_tree.hpp"

#include <cuda_runtime.h>
#include <nccl.h>

#include <chrono>
#include <type_traits>

#include "lowrank/core/error.hpp"

namespace lowrank::distributed {
namespace {

void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) throw Error(std::string("CUDA: ") + what + " failed: " + cudaGetErrorString(e));
}
void check(ncclResult_t e, const char* what) {
  if (e != ncclSuccess) throw Error(std::string("NCCL: ") + what + " failed: " + ncclGetErrorString(e));
}

template <class T> constexpr ncclDataType_t nccl_type() { return std::is_same_v<T, float> ? ncclFloat32 : ncclFloat64; }

template <class T> class DeviceArray {
 public:
  explicit DeviceArray(std::size_t count) {
    check(cudaMalloc(reinterpret_cast<void**>(&p_), count * sizeof(T)), "cudaMalloc (tree buffer)");
  }
  ~DeviceArray() { cudaFree(p_); }
  DeviceArray(const DeviceArray&) = delete;
  DeviceArray& operator=(const DeviceArray&) = delete;
  T* get() const { return p_; }

 private:
  T* p_ = nullptr;
};

}  // namespace

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) return 0;
  return count;
}

std::string nccl_version() {
  int v = 0;
  if (ncclGetVersion(&v) != ncclSuccess) return "NCCL (version unknown)";
  // NCCL >= 2.9 encodes major * 10000 + minor * 100 + patch.
  return "NCCL " + std::to_string(v / 10000) + "." + std::to_string((v / 100) % 100) + "." + std::to_string(v % 100);
}

NcclComm::NcclComm(const Comm& comm, int device) {
  // Agreed before each collective step, so that a rank that cannot take part makes every rank
  // stop instead of leaving the others in MPI_Bcast or in NCCL's bootstrap.
  ncclUniqueId id{};
  std::string error;
  try {
    check(cudaSetDevice(device), "cudaSetDevice");
    if (comm.rank() == 0) check(ncclGetUniqueId(&id), "ncclGetUniqueId");
  } catch (const std::exception& e) {
    error = e.what();
  }
  comm.agree(error);
  check_mpi(MPI_Bcast(&id, sizeof id, MPI_BYTE, 0, comm.get()), "MPI_Bcast (NCCL unique id)");
  ncclComm_t c = nullptr;
  const ncclResult_t rc = ncclCommInitRank(&c, comm.size(), id, comm.rank());
  if (rc == ncclSuccess) comm_ = c;
  comm.agree(rc == ncclSuccess ? std::string() : std::string("NCCL: ncclCommInitRank failed: ") + ncclGetErrorString(rc));
}

NcclComm::~NcclComm() {
  if (comm_) ncclCommDestroy(static_cast<ncclComm_t>(comm_));
}

template <class T>
Mat<T> nccl_tree_reduce_r(const Comm& comm, const NcclComm& nccl, CudaBackend<T>& be, const Mat<T>& local,
                          TreeStats& st, std::string& error) {
  using clock = std::chrono::steady_clock;
  const int P = comm.size(), p = comm.rank();
  const Index n = local.cols();
  const std::size_t ld = std::size_t(2 * n);  // the 2n x n stack [R_p; R_child], column-major
  const cudaStream_t stream = static_cast<cudaStream_t>(be.stream_handle());
  const ncclComm_t nc = static_cast<ncclComm_t>(nccl.get());
  st.levels = tree_levels(P);
  bool broken = !error.empty();
  std::unique_ptr<DeviceArray<T>> stack, buf;
  try {
    if (!broken && n > 0) {
      stack = std::make_unique<DeviceArray<T>>(ld * std::size_t(n));
      buf = std::make_unique<DeviceArray<T>>(std::size_t(n) * std::size_t(n));
      check(cudaMemsetAsync(stack->get(), 0, sizeof(T) * ld * std::size_t(n), stream), "cudaMemsetAsync");
      // R (host, n x n, ld n) into the top half of the stack (ld 2n): the only upload.
      check(cudaMemcpy2DAsync(stack->get(), sizeof(T) * ld, local.data(), sizeof(T) * std::size_t(n),
                              sizeof(T) * std::size_t(n), std::size_t(n), cudaMemcpyHostToDevice, stream),
            "cudaMemcpy2DAsync (R to the device)");
    }
  } catch (const std::exception& e) {
    error = e.what();
    broken = true;
  }
  const std::size_t words = std::size_t(n) * std::size_t(n);
  for (int s = 1; s < P; s *= 2) {
    if (p % (2 * s) == s) {
      const char status = broken ? 1 : 0;
      check_mpi(MPI_Send(&status, 1, MPI_CHAR, p - s, kTreeTag, comm.get()), "MPI_Send (tree status)");
      if (!broken) {
        try {
          // The top n x n of the stack, contiguous, then one ncclSend.
          check(cudaMemcpy2DAsync(buf->get(), sizeof(T) * std::size_t(n), stack->get(), sizeof(T) * ld,
                                  sizeof(T) * std::size_t(n), std::size_t(n), cudaMemcpyDeviceToDevice, stream),
                "cudaMemcpy2DAsync (pack R)");
          check(ncclSend(buf->get(), words, nccl_type<T>(), p - s, nc, stream), "ncclSend");
          check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (after ncclSend)");
          st.bytes_sent += double(words * sizeof(T));
        } catch (const std::exception& e) {
          error = e.what();
        }
      }
      return Mat<T>();
    }
    if (p % (2 * s) == 0 && p + s < P) {
      const auto t0 = clock::now();
      char status = 1;
      check_mpi(MPI_Recv(&status, 1, MPI_CHAR, p + s, kTreeTag, comm.get(), MPI_STATUS_IGNORE), "MPI_Recv (tree status)");
      if (status != 0) broken = true;
      if (broken) {
        // The child sends its factor only when it is fine; if this rank has failed, it must
        // still take it off NCCL so that the child's ncclSend completes.
        if (status == 0 && buf) {
          try {
            check(ncclRecv(buf->get(), words, nccl_type<T>(), p + s, nc, stream), "ncclRecv (drain)");
            check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
          } catch (const std::exception&) {
          }
        }
        continue;
      }
      try {
        check(ncclRecv(buf->get(), words, nccl_type<T>(), p + s, nc, stream), "ncclRecv");
        check(cudaMemcpy2DAsync(stack->get() + n, sizeof(T) * ld, buf->get(), sizeof(T) * std::size_t(n),
                                sizeof(T) * std::size_t(n), std::size_t(n), cudaMemcpyDeviceToDevice, stream),
              "cudaMemcpy2DAsync (R_child under R)");
        check(cudaStreamSynchronize(stream), "cudaStreamSynchronize (after ncclRecv)");
        const auto t1 = clock::now();
        st.seconds_wait += std::chrono::duration<double>(t1 - t0).count();
        st.bytes_received += double(words * sizeof(T));
        ++st.received;
        be.qr_r_device(stack->get(), 2 * n, n, 2 * n);  // top: qr_R([R_p; R_child]); bottom: zeros
        st.seconds_combine += std::chrono::duration<double>(clock::now() - t1).count();
      } catch (const std::exception& e) {
        error = std::string("combining the factor of rank ") + std::to_string(p + s) + " on the GPU: " + e.what();
        broken = true;
      }
    }
  }
  if (broken || n == 0) return broken ? Mat<T>() : local;
  Mat<T> R(n, n);
  try {
    check(cudaMemcpy2DAsync(R.data(), sizeof(T) * std::size_t(n), stack->get(), sizeof(T) * ld,
                            sizeof(T) * std::size_t(n), std::size_t(n), cudaMemcpyDeviceToHost, stream),
          "cudaMemcpy2DAsync (R to the host)");
    check(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  } catch (const std::exception& e) {
    error = e.what();
    return Mat<T>();
  }
  return R;
}

template Mat<float> nccl_tree_reduce_r<float>(const Comm&, const NcclComm&, CudaBackend<float>&, const Mat<float>&,
                                              TreeStats&, std::string&);
template Mat<double> nccl_tree_reduce_r<double>(const Comm&, const NcclComm&, CudaBackend<double>&,
                                                const Mat<double>&, TreeStats&, std::string&);

}  // namespace lowrank::distributed
