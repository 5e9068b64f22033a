#pragma once
// What `lowrank solve` and `lowrank-mpi solve` share: the options, their checks, opening the
// activation files, the report's inputs, writing DIR/{A.npy,B.npy,report.json} and the summary
// line. lowrank-mpi (cli/mpi/) links this without the backends of `lowrank`.
#include <CLI/CLI.hpp>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "lowrank/core/npy.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/core/solution.hpp"
#include "lowrank/backends/registry.hpp"
#include "lowrank/core/output.hpp"

namespace lowrank::cli {

using backends::BackendRequest;
using backends::SolvedFactors;

struct SolveArgs {
  std::string weights, out, method = "coala", backend = "reference", dtype = "float64";
  std::vector<std::string> acts;  // one or more files; X is their rows one after the other
  Index rank = -1;
  double mu = 0.0, rank_rtol = 0.0;
  int bits = 256;
  int threads = 0;  // --threads: BLAS threads of --backend cpu; 0 leaves OpenBLAS's default
  Index block = 4096;
  bool quiet = false, progress = false;
  bool dtype_given = false;  // --dtype on the command line (it has no meaning for --backend reference)
  std::string svd = "gesvd";
  bool verify = false;
};

// Adds every option of `solve` to `sub`, bound to `a`. `acts_help` describes --acts.
void add_solve_options(CLI::App* sub, SolveArgs& a, const std::string& acts_help);
// Call from the subcommand's callback: records what only the parser knows (--dtype given).
void finish_solve_args(CLI::App* sub, SolveArgs& a);

// The options checked against each other, before any file is read; throws Error.
struct PreparedSolve {
  SolveOptions opt;
  BackendRequest req;
  Dtype out_dtype = Dtype::float64;  // factors are stored in the working precision
};
PreparedSolve prepare_solve(const SolveArgs& a);

// X as one stream: the single file, or the files one after the other (ConcatRowSource).
std::unique_ptr<RowBlockSource> open_acts(const std::vector<std::string>& acts);
// Scans every activation file whole for NaN/Inf (memory-mapped) before any work; throws Error
// naming the file, row, column and byte offset.
void scan_acts(const std::vector<std::string>& acts);
// Progress on stderr: on a terminal, or with --progress; never with --quiet.
bool progress_wanted(const SolveArgs& a);

// report.json's content: the solver's report plus the inputs.
nlohmann::json solve_report_json(const SolveArgs& a, const SolveReport& rep);

// Writes A.npy, B.npy and report.json into `out` (created before any work) and publishes them as
// one set (OutputFolder::commit); when the method failed, only report.json, then throws
// Breakdown (exit 3). `extra_files` (name -> matrix, float64) are written beside the factors.
void write_solve_outputs(OutputFolder& out, const SolveArgs& a, const PreparedSolve& p, const SolvedFactors& f,
                         const nlohmann::json& report,
                         const std::vector<std::pair<std::string, MatrixXd>>& extra_files = {});

// The one-paragraph summary on stdout (unless --quiet).
void print_solve_summary(const SolveArgs& a, const SolveReport& rep);

}  // namespace lowrank::cli
