#include "lowrank/distributed/comm.hpp"

#include <algorithm>

namespace lowrank::distributed {

void check_mpi(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char msg[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, msg, &len);
  throw IoError(std::string("MPI: ") + call + " failed: " + std::string(msg, std::size_t(len)));
}

Comm::Comm(MPI_Comm comm) : comm_(comm) {
  check_mpi(MPI_Comm_set_errhandler(comm_, MPI_ERRORS_RETURN), "MPI_Comm_set_errhandler");
  check_mpi(MPI_Comm_rank(comm_, &rank_), "MPI_Comm_rank");
  check_mpi(MPI_Comm_size(comm_, &size_), "MPI_Comm_size");
}

void Comm::agree(const std::string& local_error, int local_code) const {
  const bool failed = !local_error.empty();
  int in[2] = {failed ? -rank_ : -size_, failed ? 1 : 0};  // max(-rank) = the lowest failing rank
  int out[2] = {0, 0};
  // Two reductions in one call would need a derived op; two calls are cheap and simple.
  check_mpi(MPI_Allreduce(&in[0], &out[0], 1, MPI_INT, MPI_MAX, comm_), "MPI_Allreduce (failure agreement)");
  check_mpi(MPI_Allreduce(&in[1], &out[1], 1, MPI_INT, MPI_SUM, comm_), "MPI_Allreduce (failure count)");
  const int first = -out[0], failures = out[1];
  if (failures == 0) return;
  std::string msg = rank_ == first ? local_error : std::string();
  bcast_bytes(msg, first);
  int code = rank_ == first ? local_code : 0;
  check_mpi(MPI_Bcast(&code, 1, MPI_INT, first, comm_), "MPI_Bcast (exit code)");
  std::string what = "rank " + std::to_string(first) + " of " + std::to_string(size_) + " failed: " + msg;
  if (failures > 1) what += " (and " + std::to_string(failures - 1) + " other rank" + (failures > 2 ? "s" : "") + ")";
  throw RankFailure(first, failures, what, failed, code);
}

namespace {
constexpr std::size_t kPiece = std::size_t(1) << 30;
}

void Comm::send_bytes(int dest, int tag, const std::string& bytes) const {
  std::uint64_t size = bytes.size();
  check_mpi(MPI_Send(&size, 1, MPI_UINT64_T, dest, tag, comm_), "MPI_Send (size)");
  for (std::size_t off = 0; off < bytes.size(); off += kPiece) {
    const int len = int(std::min(kPiece, bytes.size() - off));
    check_mpi(MPI_Send(bytes.data() + off, len, MPI_BYTE, dest, tag, comm_), "MPI_Send");
  }
}

std::string Comm::recv_bytes(int source, int tag) const {
  std::uint64_t size = 0;
  check_mpi(MPI_Recv(&size, 1, MPI_UINT64_T, source, tag, comm_, MPI_STATUS_IGNORE), "MPI_Recv (size)");
  std::string bytes(size, '\0');
  for (std::size_t off = 0; off < bytes.size(); off += kPiece) {
    const int len = int(std::min(kPiece, bytes.size() - off));
    check_mpi(MPI_Recv(bytes.data() + off, len, MPI_BYTE, source, tag, comm_, MPI_STATUS_IGNORE), "MPI_Recv");
  }
  return bytes;
}

void Comm::bcast_bytes(std::string& bytes, int root) const {
  std::uint64_t size = bytes.size();
  check_mpi(MPI_Bcast(&size, 1, MPI_UINT64_T, root, comm_), "MPI_Bcast (size)");
  bytes.resize(size);
  for (std::size_t off = 0; off < bytes.size(); off += kPiece) {
    const int len = int(std::min(kPiece, bytes.size() - off));
    check_mpi(MPI_Bcast(bytes.data() + off, len, MPI_BYTE, root, comm_), "MPI_Bcast");
  }
}

double Comm::max_double(double x) const {
  double y = x;
  check_mpi(MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_MAX, comm_), "MPI_Allreduce (max)");
  return y;
}

double Comm::min_double(double x) const {
  double y = x;
  check_mpi(MPI_Allreduce(&x, &y, 1, MPI_DOUBLE, MPI_MIN, comm_), "MPI_Allreduce (min)");
  return y;
}

void Comm::barrier() const { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

int local_rank(const Comm& comm) {
  MPI_Comm node;
  check_mpi(MPI_Comm_split_type(comm.get(), MPI_COMM_TYPE_SHARED, comm.rank(), MPI_INFO_NULL, &node),
            "MPI_Comm_split_type");
  int r = 0;
  MPI_Comm_rank(node, &r);
  MPI_Comm_free(&node);
  return r;
}

}  // namespace lowrank::distributed
