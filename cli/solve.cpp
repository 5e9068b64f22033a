// lowrank solve: one problem, one method, one backend; writes A.npy, B.npy, report.json.
// The options, their checks and the output are shared with lowrank-mpi (solve_common.hpp).
#include <iostream>
#include <optional>

#include "commands.hpp"
#include "lowrank/core/driver.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/output.hpp"
#include "lowrank/backends/registry.hpp"
#include "solve_common.hpp"

namespace lowrank::cli {
namespace {

// Everything that can be refused is refused first: options, the output location (its staging
// folder is created), the inputs' headers and shapes, and every entry of X for NaN/Inf (W is read
// whole and checked as it is read). Only then does the solve start; its files reach --out
// together, or not at all.
void run_solve(const SolveArgs& a) {
  PreparedSolve p = prepare_solve(a);
  backends::require_backend(a.backend);
  OutputFolder out(a.out);
  const MatrixXd W = read_matrix(a.weights, "weights W");
  const std::unique_ptr<RowBlockSource> X = open_acts(a.acts);
  validate_problem(W.rows(), W.cols(), *X, p.opt);
  scan_acts(a.acts);

  std::optional<ProgressSource> progress;
  RowBlockSource* source = X.get();
  if (progress_wanted(a)) {
    progress.emplace(*X, a.backend, a.progress);
    source = &*progress;
    p.opt.on_phase = [&progress](const std::string& what) { progress->phase(what); };
  }
  SolvedFactors f = backends::solve_with_backend(a.backend, p.req, W, *source, p.opt);
  progress.reset();
  write_solve_outputs(out, a, p, f, solve_report_json(a, f.report));
  print_solve_summary(a, f.report);
}

void add_solve(CLI::App& app) {
  auto a = std::make_shared<SolveArgs>();
  CLI::App* sub = app.add_subcommand("solve", "Solve one context-aware low-rank problem; writes DIR/A.npy (m x r), DIR/B.npy (r x n), DIR/report.json");
  add_solve_options(sub, *a,
                    "X.npy, N x n, one row per token (streamed in blocks); repeat --acts for X split over\n"
                    "several files (their rows one after the other, every file N_i x n)");
  sub->callback([a, sub]() {
    finish_solve_args(sub, *a);
    run_solve(*a);
  });
}
const RegisterCommand registered(10, add_solve);
}  // namespace

}  // namespace lowrank::cli
