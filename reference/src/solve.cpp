#include "lowrank/reference/solve.hpp"

namespace lowrank {

ReferenceRun reference_solve(const MatrixXd& W, RowBlockSource& X, const SolveOptions& opt, int bits) {
  ReferenceBackend be(bits);  // MPFR at `bits` until it ends; W is converted under it
  ReferenceRun run{solve(be, to_mp(W), X, opt), MatrixMP()};
  if (run.sol.report.ok()) run.Wp = run.sol.A * run.sol.B;
  return run;
}

}  // namespace lowrank
