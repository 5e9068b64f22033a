#pragma once
// The binary-tree reduction of the ranks' factors (TSQR across ranks, MATH.md 1.1):
//
//   level l = 0, 1, ..., ceil(log2 P) - 1, step s = 2^l:
//     rank p with p mod 2s == s   sends its factor to p - s and is done;
//     rank p with p mod 2s == 0   receives from p + s (if p + s < P) and combines,
//                                 R_p <- qr_R([R_p; R_{p+s}]) (Backend::stack_r; the receiver's
//                                 factor on top, so the result is a fixed function of P).
//   Rank 0 ends with R of all of X: R^T R = sum_p R_p^T R_p = X X^T.
//
// Why explicit sends, not MPI_Reduce with a user operation (MPI_Op_create):
//  - MPI requires the operation to be associative and lets the library choose the reduction
//    order (and, for a commutative op, the operand order) by message size and process count.
//    qr_R([R_a; R_b]) is associative and commutative only in exact arithmetic, and then only up to
//    the signs of R's rows; in floating point each order gives a different rounding. With our
//    own tree the result is a fixed function of P, the same under every MPI library.
//  - A user op sees `len` elements of a datatype and MPI may split a buffer into segments for
//    pipelining; ours needs the whole n x n triangle at once (a derived datatype of one element
//    avoids the split but not the rest).
//  - It runs inside MPI's progress engine as a C callback with no state pointer and no way to
//    fail: a backend (LAPACK workspace, a GPU handle, MPFR precision) would have to be a global,
//    and a failing QR (an exception) could not be reported.
//  - It would move the full n^2 words; the tree sends the n (n + 1) / 2 of the triangle, and the
//    same loop drives the NCCL transfers of GPU ranks (nccl_tree.hpp).
// The communication is the same as a reduction's: ceil(log2 P) messages of n (n + 1) / 2 words on
// the critical path, one 2n x n triangle-on-triangle QR (2n^3/3 flops with ?tpqrt, l = n) per level.
//
// Errors: every message starts with a status byte. A rank whose combine failed, or that received
// "failed" from a child, sends "failed" (no payload) up the tree instead of its factor, so no rank
// waits for a message that will not come; the caller then runs Comm::agree, which names the rank
// and the reason on every rank.
#include <chrono>
#include <exception>
#include <string>
#include <utility>

#include "lowrank/core/matrix.hpp"
#include "lowrank/distributed/comm.hpp"
#include "lowrank/distributed/wire.hpp"

namespace lowrank::distributed {

struct TreeStats {
  int levels = 0;             // ceil(log2 P)
  int received = 0;           // messages this rank received
  double bytes_sent = 0, bytes_received = 0;  // by this rank
  double seconds_wait = 0;    // blocked in receives (includes the children's work)
  double seconds_combine = 0; // in combine()
};

constexpr int kTreeTag = 1701;

inline int tree_levels(int P) {
  int l = 0;
  while ((1 << l) < P) ++l;
  return l;
}

// Reduces `local` (every rank) to rank 0 with combine(top, bottom). `upper`: the factors are upper
// triangular (sent packed). `error`: this rank's own failure so far ("" = fine); set when a
// combine throws. A child's failure is not this rank's: it only makes this rank send "failed" on
// (the child reports its own reason at the agreement). Returns the result on rank 0 (an empty
// matrix elsewhere, and on rank 0 when anything failed).
template <class T, class Combine>
Mat<T> tree_reduce(const Comm& comm, Mat<T> local, bool upper, Combine&& combine, TreeStats& st, std::string& error) {
  using clock = std::chrono::steady_clock;
  const int P = comm.size(), p = comm.rank();
  st.levels = tree_levels(P);
  bool broken = !error.empty();  // this rank or a rank below it failed: no factor goes up
  for (int s = 1; s < P; s *= 2) {
    if (p % (2 * s) == s) {
      std::string msg(1, broken ? '\1' : '\0');
      if (!broken) msg += pack_matrix(local, upper);
      comm.send_bytes(p - s, kTreeTag, msg);
      st.bytes_sent += double(msg.size());
      return Mat<T>();
    }
    if (p % (2 * s) == 0 && p + s < P) {
      const auto t0 = clock::now();
      const std::string msg = comm.recv_bytes(p + s, kTreeTag);
      const auto t1 = clock::now();
      st.seconds_wait += std::chrono::duration<double>(t1 - t0).count();
      st.bytes_received += double(msg.size());
      ++st.received;
      if (broken) continue;  // keep receiving so that no child blocks; "failed" goes up
      if (msg.empty() || msg[0] != '\0') {
        broken = true;
        continue;
      }
      try {
        local = combine(local, unpack_matrix<T>(msg.substr(1)));
      } catch (const std::exception& e) {
        error = std::string("combining the factor of rank ") + std::to_string(p + s) + ": " + e.what();
        broken = true;
      }
      st.seconds_combine += std::chrono::duration<double>(clock::now() - t1).count();
    }
  }
  return broken ? Mat<T>() : local;
}

}  // namespace lowrank::distributed
