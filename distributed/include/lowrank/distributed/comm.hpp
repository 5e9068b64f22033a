#pragma once
// The little of MPI the distributed solve uses, with the error discipline of the project: every
// MPI call is checked (MPI_ERRORS_RETURN on the communicator) and a failure throws Error naming
// the call; nothing calls MPI_Abort.
//
// Failure agreement (agree): after each phase in which a rank can fail on its own (reading its
// shards, NaN, a backend error), every rank calls agree() with its own outcome. It is one
// MPI_Allreduce (the lowest failing rank and the number of failures) and, if any rank failed, one
// MPI_Bcast of that rank's message; then every rank throws RankFailure with the same text. No
// rank enters a collective or a send that could wait for a failed rank: the phases between two
// agreements only exchange messages that every live rank sends.
#include <mpi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "lowrank/core/error.hpp"

namespace lowrank::distributed {

// Thrown on every rank by agree() when some rank failed: what() is
// "rank K of P failed: <its message>" (plus how many others failed); exit_code() is the failing
// rank's own (2 refused input, 3 breakdown, 4 I/O or system, 128 + signal), so every rank exits
// with the code a single process would have.
class RankFailure : public Error {
 public:
  RankFailure(int failed_rank, int failures, const std::string& what, bool here, int code)
      : Error(what), failed_rank_(failed_rank), failures_(failures), here_(here), code_(code) {}
  int failed_rank() const { return failed_rank_; }
  int failures() const { return failures_; }
  bool failed_here() const { return here_; }  // this rank is one of the failures
  int exit_code() const override { return code_; }

 private:
  int failed_rank_, failures_;
  bool here_;
  int code_;
};

class Comm {
 public:
  // Wraps `comm` (not owned); sets MPI_ERRORS_RETURN on it.
  explicit Comm(MPI_Comm comm = MPI_COMM_WORLD);
  int rank() const { return rank_; }
  int size() const { return size_; }
  MPI_Comm get() const { return comm_; }

  // Every rank: "" = this rank is fine. Throws RankFailure on every rank if any failed, with the
  // lowest failing rank's message and exit code (exit_code_of the exception it caught; a failure
  // known only as a message, e.g. a failed MPI or NCCL call, is a system failure, exit 4).
  void agree(const std::string& local_error, int local_code = exit_code::io) const;

  // Point to point, any length (sent in pieces of at most 1 GiB; MPI counts are int).
  void send_bytes(int dest, int tag, const std::string& bytes) const;
  std::string recv_bytes(int source, int tag) const;

  // Collectives on plain values.
  void bcast_bytes(std::string& bytes, int root) const;
  template <class T> void bcast_pod(std::vector<T>& v, int root) const {
    std::string b;
    if (rank_ == root) b.assign(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
    bcast_bytes(b, root);
    v.resize(b.size() / sizeof(T));
    if (!b.empty()) std::copy(b.data(), b.data() + b.size(), reinterpret_cast<char*>(v.data()));
  }
  double max_double(double x) const;
  double min_double(double x) const;
  void barrier() const;

 private:
  MPI_Comm comm_;
  int rank_ = 0, size_ = 1;
};

// Throws Error naming `call` when rc != MPI_SUCCESS (with MPI's error string).
void check_mpi(int rc, const char* call);

// The rank within its node (MPI_COMM_TYPE_SHARED): which GPU a cuda rank takes.
int local_rank(const Comm& comm);

}  // namespace lowrank::distributed
