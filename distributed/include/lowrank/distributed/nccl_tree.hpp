#pragma once
// GPU ranks (--backend cuda): the same binary tree as tree.hpp, with the factors kept on the
// device and moved by NCCL (ncclSend / ncclRecv on the backend's stream), so they never pass
// through the host between the local streaming TSQR and rank 0's result. Each combine is one
// cusolverDnXgeqrf of the 2n x n stack [R_p; R_{p+s}] in a device buffer
// (CudaBackend::qr_r_device). The status of each message (fine / failed) still goes over MPI
// first, so a failed rank never leaves its parent waiting inside NCCL.
//
// Built only when the CUDA backend and NCCL (the CUDA Toolkit's libnccl) are found: then
// LOWRANK_HAVE_NCCL is defined for code that uses lowrank_distributed. NCCL needs one GPU per
// rank; ranks pick device (node-local rank) mod (devices on the node).
#ifdef LOWRANK_HAVE_NCCL
#include <string>

#include "lowrank/distributed/comm.hpp"
#include "lowrank/distributed/tree.hpp"
#include "lowrank/fast/cuda_backend.hpp"

namespace lowrank::distributed {

// Number of CUDA devices visible to this process (0 when none or no driver).
int cuda_device_count();
// "NCCL 2.x.y".
std::string nccl_version();

// One NCCL communicator over the ranks of `comm` (the unique id travels by MPI_Bcast). Collective:
// every rank constructs it; a rank that cannot (no device, NCCL error) makes every rank throw
// RankFailure (Comm::agree before the broadcast and after ncclCommInitRank).
class NcclComm {
 public:
  NcclComm(const Comm& comm, int device);
  ~NcclComm();
  NcclComm(const NcclComm&) = delete;
  NcclComm& operator=(const NcclComm&) = delete;
  void* get() const { return comm_; }  // ncclComm_t

 private:
  void* comm_ = nullptr;
};

// The tree of tree.hpp over NCCL: `local` (this rank's R, host, from the streaming TSQR) is
// uploaded once; rank 0 downloads the result once. Same error contract as tree_reduce.
template <class T>
Mat<T> nccl_tree_reduce_r(const Comm& comm, const NcclComm& nccl, CudaBackend<T>& be, const Mat<T>& local,
                          TreeStats& st, std::string& error);

}  // namespace lowrank::distributed
#endif  // LOWRANK_HAVE_NCCL
