#pragma once
// The distributed pass over X: each rank streams its pieces of the activation files into a local
// factor with its own backend (the driver's accumulate, unchanged), then the factors meet on rank
// 0: R by the tree of qr_R([R_a; R_b]) (tree.hpp; or a caller-supplied combiner, e.g. NCCL for
// GPU ranks), G = X X^T by MPI_Reduce(MPI_SUM) for float/double (what distributed Gram codes do)
// and by the same tree with + for MPFR. The result is the driver's Accumulated, so rank 0 finishes
// with lowrank::solve_accumulated exactly as a single process does.
//
// Failure discipline: two agreement points (Comm::agree): after the local pass (a bad shard, NaN,
// a read error, a backend that cannot start) and after the combine. Every rank throws the same
// RankFailure ("rank K of P failed: FILE: ..."); nobody waits for a rank that has given up.
#include <mpi.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "lowrank/core/driver.hpp"
#include "lowrank/distributed/comm.hpp"
#include "lowrank/distributed/plan.hpp"
#include "lowrank/distributed/tree.hpp"

namespace lowrank::distributed {

struct Stats {
  std::vector<double> rows_per_rank;                // gathered on rank 0
  std::vector<double> seconds_local_per_rank;       // local pass (backend start-up included)
  std::string combine;                              // how the factors were combined
  TreeStats tree;                                   // rank 0's share of the tree
  double seconds_combine = 0;                       // rank 0: start of the combine to the result
  double words_per_message = 0;                     // scalars in one factor message
};

template <class T>
using CombineR = std::function<Mat<T>(const Comm&, Mat<T> local, TreeStats&, std::string& error)>;

template <class T> MPI_Datatype mpi_type() {
  static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "float or double");
  return std::is_same_v<T, float> ? MPI_FLOAT : MPI_DOUBLE;
}

// `make()` builds this rank's backend (inside the agreed phase: a cuda rank without a device fails
// like a bad shard). Returns the accumulated factor on rank 0 (with N and u_data of all of X) and
// an empty one elsewhere; `be` keeps the backend for rank 0's solve.
template <class Backend, class Make>
Accumulated<typename Backend::Scalar> accumulate(const Comm& comm, std::unique_ptr<Backend>& be, Make&& make,
                                                 const Plan& plan, const SolveOptions& opt, Stats& st,
                                                 const CombineR<typename Backend::Scalar>& combine_r = {}) {
  using T = typename Backend::Scalar;
  using clock = std::chrono::steady_clock;
  const bool gram = is_gram_method(opt.method);
  const Index n = plan.n;
  const auto& mine = plan.assignment.ranks.at(std::size_t(comm.rank()));

  // ---- local pass ----
  const auto t0 = clock::now();
  std::string error;
  int code = exit_code::ok;
  Mat<T> local;
  Index my_rows = 0;
  bool started = false;
  try {
    be = make();
    started = true;
    ConcatRowSource src = open_pieces(plan, mine);
    my_rows = src.rows();
    if (my_rows > 0) {
      Accumulated<T> a = lowrank::accumulate_to_host(*be, src, opt);
      local = gram ? std::move(a.G) : std::move(a.R);
    } else {
      local = Mat<T>::Zero(n, n);  // an empty shard adds nothing: R = 0, G = 0
    }
    if (local.rows() != n || local.cols() != n)
      throw Error("local factor is " + shape_str(local.rows(), local.cols()) + ", expected " + shape_str(n, n));
  } catch (const std::exception& e) {
    error = e.what();
    code = exit_code_of(e);
    bool named = !started;  // a backend that cannot start has nothing to do with the files
    for (const Piece& q : mine) named = named || error.find(plan.files[q.file]) != std::string::npos;
    if (!named && !mine.empty()) {
      error += " (while streaming ";
      for (std::size_t i = 0; i < mine.size(); ++i) error += (i ? ", " : "") + plan.files[mine[i].file];
      error += ")";
    }
  }
  const double local_seconds = std::chrono::duration<double>(clock::now() - t0).count();
  comm.agree(error, code);

  // ---- combine ----
  const auto t1 = clock::now();
  Mat<T> combined;
  if (gram) {
    st.words_per_message = double(n) * double(n);
    if constexpr (std::is_floating_point_v<T>) {
      st.combine = "MPI_Reduce(MPI_SUM) of G = X X^T";
      if (comm.rank() == 0) combined = Mat<T>::Zero(n, n);
      try {
        check_mpi(MPI_Reduce(local.data(), comm.rank() == 0 ? combined.data() : nullptr, int(n * n), mpi_type<T>(),
                             MPI_SUM, 0, comm.get()),
                  "MPI_Reduce (Gram)");
      } catch (const std::exception& e) {
        error = e.what();
      }
      st.tree.levels = tree_levels(comm.size());
    } else {
      st.combine = "binary tree of G_a + G_b (explicit sends; MPI has no MPFR type)";
      combined = tree_reduce(comm, std::move(local), false, [](const Mat<T>& a, const Mat<T>& b) { return Mat<T>(a + b); },
                             st.tree, error);
    }
  } else {
    st.words_per_message = double(n) * double(n + 1) / 2;
    if (combine_r) {
      combined = combine_r(comm, std::move(local), st.tree, error);
    } else {
      st.combine = "binary tree of qr_R([R_a; R_b]) (" + be->name() + " stack_r, explicit MPI sends)";
      Backend& b = *be;
      combined = tree_reduce(comm, std::move(local), true,
                             [&b](const Mat<T>& top, const Mat<T>& bottom) { return b.stack_r(top, bottom); }, st.tree,
                             error);
    }
  }
  st.seconds_combine = std::chrono::duration<double>(clock::now() - t1).count();
  comm.agree(error);

  // ---- what rank 0 reports ----
  const double mine_d[2] = {double(my_rows), local_seconds};
  std::vector<double> all(comm.rank() == 0 ? 2 * std::size_t(comm.size()) : 0);
  check_mpi(MPI_Gather(mine_d, 2, MPI_DOUBLE, all.data(), 2, MPI_DOUBLE, 0, comm.get()), "MPI_Gather (stats)");
  Accumulated<T> acc;
  if (comm.rank() == 0) {
    for (int p = 0; p < comm.size(); ++p) {
      st.rows_per_rank.push_back(all[2 * std::size_t(p)]);
      st.seconds_local_per_rank.push_back(all[2 * std::size_t(p) + 1]);
    }
    (gram ? acc.G : acc.R) = std::move(combined);
    acc.N = plan.N;
    acc.u_data = plan.u_data;
    acc.seconds = std::chrono::duration<double>(clock::now() - t0).count();
  }
  return acc;
}

}  // namespace lowrank::distributed
