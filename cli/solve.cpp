// lowrank solve: one problem, one method, one backend; writes A.npy, B.npy, report.json.
// The options, their checks and the output are shared with lowrank-mpi (solve_common.hpp).
#include <iostream>

#include "commands.hpp"
#include "lowrank/core/driver.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "solve_backends.hpp"
#include "solve_common.hpp"

namespace lowrank::cli {
namespace {

void run_solve(const SolveArgs& a) {
  const PreparedSolve p = prepare_solve(a);
  const MatrixXd W = read_matrix(a.weights, "weights W");
  const std::unique_ptr<RowBlockSource> X = open_acts(a.acts);
  validate_problem(W.rows(), W.cols(), *X, p.opt);

  SolvedFactors f = solve_with_backend(a.backend, p.req, W, *X, p.opt);
  write_solve_outputs(a, p, f, solve_report_json(a, f.report));
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
