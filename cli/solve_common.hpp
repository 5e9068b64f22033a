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
#include "solve_backends.hpp"

namespace lowrank::cli {

struct SolveArgs {
  std::string weights, out, method = "coala", backend = "reference", dtype = "float64";
  std::vector<std::string> acts;  // one or more files; X is their rows one after the other
  Index rank = -1;
  double mu = 0.0, rank_rtol = 0.0;
  int bits = 256;
  Index block = 4096;
  bool quiet = false;
  bool dtype_given = false;  // --dtype on the command line (it has no meaning for --backend reference)
  std::string svd = "gesvd";
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

// report.json's content: the solver's report plus the inputs.
nlohmann::json solve_report_json(const SolveArgs& a, const SolveReport& rep);

// Writes DIR/A.npy, DIR/B.npy (or, when the method failed, only report.json, then throws the
// failure). A DIR that does not exist yet is built as a temporary sibling and renamed into place,
// so it appears complete or not at all; in an existing DIR each file is replaced atomically.
// `extra_files` (name -> matrix, float64) are written beside the factors.
void write_solve_outputs(const SolveArgs& a, const PreparedSolve& p, const SolvedFactors& f,
                         const nlohmann::json& report,
                         const std::vector<std::pair<std::string, MatrixXd>>& extra_files = {});

// The one-paragraph summary on stdout (unless --quiet).
void print_solve_summary(const SolveArgs& a, const SolveReport& rep);

}  // namespace lowrank::cli
