// lowrank-mpi: the distributed solve (distributed/). Run as
//   mpirun -np P build/lowrank-mpi solve -W W.npy --acts a.npy --acts b.npy ... -r R -o DIR
// Every rank parses the same options; rank 0 reads W and the files' headers, each rank streams
// its share of the activations with its own backend, the ranks' factors meet on rank 0 (tree of
// qr_R([R_a; R_b]), or MPI_Reduce of X X^T for the Gram methods), and rank 0 finishes exactly as
// `lowrank solve` does (the same driver, options, report and output code) and writes the output
// once. A rank that fails makes every rank exit with the failing rank's code (2 refused input,
// 3 breakdown with its report written, 4 I/O or system failure, 130/143 interrupted: the README's
// table, as for `lowrank solve`) and one line naming that rank and its reason; nothing else is
// written.
#include <mpi.h>

#include <iostream>
#include <memory>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/distributed/accumulate.hpp"
#include "lowrank/distributed/comm.hpp"
#include "lowrank/distributed/plan.hpp"
#include "lowrank/distributed/wire_mpreal.hpp"
#include "lowrank/fast/cpu_backend.hpp"
#include "lowrank/reference/backend.hpp"
#include "solve_common.hpp"
#ifdef LOWRANK_HAVE_CUDA
#include "lowrank/fast/cuda_backend.hpp"
#endif
#ifdef LOWRANK_HAVE_NCCL
#include "lowrank/distributed/nccl_tree.hpp"
#endif

namespace lowrank::cli {
namespace {

using distributed::Comm;
using distributed::Plan;
using distributed::Stats;

// Rank 0's output folder, created (and so checked) before any rank streams anything.
std::unique_ptr<OutputFolder> g_out;

struct MpiArgs {
  SolveArgs solve;
  std::string split = "auto";
  std::string gpu_reduce = "nccl";
  bool save_factor = false;
};

template <class T> Mat<T> cast_w(const MatrixXd& W) {
  if constexpr (std::is_same_v<T, mpreal>) return to_mp(W);
  else return W.cast<T>();
}
template <class T> MatrixXd to_d(const Mat<T>& M) {
  if constexpr (std::is_same_v<T, mpreal>) return to_double(M);
  else return M.template cast<double>();
}

template <class Backend, class Make>
void run_typed(const Comm& comm, const MpiArgs& ma, const PreparedSolve& prep, const Plan& plan, const MatrixXd& W,
               Make&& make, std::unique_ptr<Backend>& be,
               const distributed::CombineR<typename Backend::Scalar>& combine_r = {},
               const std::string& combine_name = "") {
  using T = typename Backend::Scalar;
  const SolveArgs& a = ma.solve;
  Stats st;
  Accumulated<T> acc = distributed::accumulate(comm, be, make, plan, prep.opt, st, combine_r);
  if (combine_r) st.combine = combine_name;

  std::string error;
  int code = exit_code::ok;
  if (comm.rank() == 0) {
    try {
      const bool gram = is_gram_method(prep.opt.method);
      std::vector<std::pair<std::string, MatrixXd>> extra;
      if (ma.save_factor) extra.emplace_back(gram ? "G.npy" : "R.npy", to_d<T>(gram ? acc.G : acc.R));
      Solution<T> s = solve_accumulated(*be, cast_w<T>(W), std::move(acc), prep.opt);
      SolvedFactors f{to_d<T>(s.A), to_d<T>(s.B), s.report};
      f.report.notes.push_back("distributed over " + std::to_string(comm.size()) + (comm.size() == 1 ? " rank (" : " ranks (") +
                               st.combine + ")");
      nlohmann::json rep = solve_report_json(a, f.report);
      rep["inputs"]["acts"] = plan.files;
      double local_max = 0;
      for (double t : st.seconds_local_per_rank) local_max = std::max(local_max, t);
      rep["distributed"] = {
          {"ranks", comm.size()},
          {"split", distributed::split_mode_name(plan.assignment.mode)},
          {"files", plan.files.size()},
          {"rows_per_rank", st.rows_per_rank},
          {"seconds_local_per_rank", st.seconds_local_per_rank},
          {"seconds_local_max", local_max},
          {"combine", st.combine},
          {"tree_levels", st.tree.levels},
          {"words_per_message", st.words_per_message},
          {"seconds_combine", st.seconds_combine},
          {"rank0_seconds_wait", st.tree.seconds_wait},
          {"rank0_seconds_combine_compute", st.tree.seconds_combine},
          {"rank0_bytes_received", st.tree.bytes_received},
      };
      write_solve_outputs(*g_out, a, prep, f, rep, extra);
      print_solve_summary(a, f.report);
    } catch (const std::exception& e) {
      error = e.what();
      code = exit_code_of(e);
    }
  }
  comm.agree(error, code);
}

void run(const Comm& comm, const MpiArgs& ma) {
  const SolveArgs& a = ma.solve;
  PreparedSolve prep;
  MatrixXd W;
  Plan plan;
  distributed::SplitMode split = distributed::SplitMode::automatic;
  std::string error;
  int code = exit_code::ok;
  try {
    prep = prepare_solve(a);
    split = distributed::parse_split_mode(ma.split);
    if (a.backend != "cpu" && a.backend != "reference" && a.backend != "cuda")
      throw Error("unknown backend '" + a.backend + "' (lowrank-mpi has: cpu, cuda, reference)");
#ifndef LOWRANK_HAVE_CUDA
    if (a.backend == "cuda") throw Error("--backend cuda: this build has no CUDA backend");
#endif
    if (ma.gpu_reduce != "nccl" && ma.gpu_reduce != "mpi")
      throw Error("--gpu-reduce must be nccl or mpi, got '" + ma.gpu_reduce + "'");
    if (comm.rank() == 0) {
      g_out = std::make_unique<OutputFolder>(a.out);
      W = read_matrix(a.weights, "weights W");
      plan = distributed::scan_files(a.acts, W.cols());
      distributed::PlanShape shape(plan);
      validate_problem(W.rows(), W.cols(), shape, prep.opt);
    }
  } catch (const std::exception& e) {
    error = e.what();
    code = exit_code_of(e);
  }
  comm.agree(error, code);
  distributed::broadcast_plan(comm, plan, split);

  if (a.backend == "cpu") {
    if (prep.req.threads > 0) set_cpu_threads(prep.req.threads);  // --threads: each rank's BLAS
    CpuOptions o;
    if (prep.req.dtype == Dtype::float32) {
      std::unique_ptr<CpuBackend<float>> be;
      run_typed(comm, ma, prep, plan, W, [&] { return std::make_unique<CpuBackend<float>>(o); }, be);
    } else {
      std::unique_ptr<CpuBackend<double>> be;
      run_typed(comm, ma, prep, plan, W, [&] { return std::make_unique<CpuBackend<double>>(o); }, be);
    }
  } else if (a.backend == "reference") {
    std::unique_ptr<ReferenceBackend> be;
    run_typed(comm, ma, prep, plan, W,
              [&] { return std::make_unique<ReferenceBackend>(prep.req.bits); },
              be);
  } else {
#ifdef LOWRANK_HAVE_CUDA
    auto go = [&](auto tag) {
      using T = decltype(tag);
      CudaOptions co;
      co.svd = parse_svd_driver(prep.req.svd);
      co.svd_rank = prep.opt.rank;
      int devices = 1;
#ifdef LOWRANK_HAVE_NCCL
      devices = std::max(1, distributed::cuda_device_count());
#endif
      co.device = distributed::local_rank(comm) % devices;
      std::unique_ptr<CudaBackend<T>> be;
      auto make = [&] { return std::make_unique<CudaBackend<T>>(co); };
#ifdef LOWRANK_HAVE_NCCL
      if (ma.gpu_reduce == "nccl") {
        const int device = co.device;
        distributed::CombineR<T> nccl = [&be, device](const Comm& c, Mat<T> local, distributed::TreeStats& ts,
                                                      std::string& err) {
          distributed::NcclComm nc(c, device);
          return distributed::nccl_tree_reduce_r<T>(c, nc, *be, local, ts, err);
        };
        run_typed(comm, ma, prep, plan, W, make, be, nccl,
                  "binary tree of qr_R([R_a; R_b]) on the GPUs (cusolverDnXgeqrf), factors moved by " +
                      distributed::nccl_version());
        return;
      }
#endif
      run_typed(comm, ma, prep, plan, W, make, be);
    };
    if (prep.req.dtype == Dtype::float32) go(float{});
    else go(double{});
#endif
  }
}

}  // namespace
}  // namespace lowrank::cli

int main(int argc, char** argv) {
  if (MPI_Init(&argc, &argv) != MPI_SUCCESS) {
    std::cerr << "lowrank-mpi: error: MPI_Init failed\n";
    return 4;
  }
  int code = 0;
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  {
    using namespace lowrank::cli;
    CLI::App app{
        "lowrank-mpi: the distributed solve of lowrank (TSQR across MPI ranks).\n"
        "Run as: mpirun -np P lowrank-mpi solve -W W.npy --acts a.npy --acts b.npy ... -r R -o DIR"};
    app.require_subcommand(1);
    MpiArgs ma;
    CLI::App* sub = app.add_subcommand(
        "solve", "lowrank solve over P ranks: each rank streams its share of the activation files; writes DIR/A.npy, "
                 "DIR/B.npy, DIR/report.json once, from rank 0");
    add_solve_options(sub, ma.solve,
                      "activation files (N_i x n each, one row per token); repeat --acts, or give a quoted glob\n"
                      "('shards/*.npy', expanded by rank 0, sorted). X is their rows one after the other.");
    sub->add_option("--split", ma.split,
                    "who streams what: files (whole files per rank, balanced by rows) | rows (N/P contiguous rows\n"
                    "each, across file boundaries) | auto (files when there are at least P files and no rank gets\n"
                    "more than 5/4 of N/P rows, rows otherwise)")
        ->capture_default_str();
    sub->add_option("--gpu-reduce", ma.gpu_reduce,
                    "--backend cuda: combine the ranks' R factors on the GPUs over NCCL (nccl) or through the host\n"
                    "over MPI (mpi)")
        ->capture_default_str();
    sub->add_flag("--save-factor", ma.save_factor,
                  "also write DIR/R.npy (the n x n R of all of X; G.npy = X X^T for the Gram methods), float64");
    try {
      app.parse(argc, argv);
      finish_solve_args(sub, ma.solve);
      const lowrank::distributed::Comm comm(MPI_COMM_WORLD);
      run(comm, ma);
    } catch (const CLI::ParseError& e) {
      if (rank == 0) {
        if (e.get_exit_code() == 0) app.exit(e);
        else std::cerr << "lowrank-mpi: error: " << e.what() << " (see --help)\n";
      }
      code = e.get_exit_code();
    } catch (const lowrank::distributed::RankFailure& e) {
      if (rank == 0) std::cerr << "lowrank-mpi: error: " << e.what() << "\n";
      code = e.exit_code();
    } catch (const lowrank::Error& e) {
      // Not agreed (an MPI call failed): every rank says what it saw.
      std::cerr << "lowrank-mpi: error (rank " << rank << "): " << e.what() << "\n";
      code = e.exit_code();
    } catch (const std::exception& e) {
      std::cerr << "lowrank-mpi: internal error (rank " << rank << "): " << e.what() << "\n";
      code = 4;
    }
  }
  MPI_Finalize();
  return code;
}
