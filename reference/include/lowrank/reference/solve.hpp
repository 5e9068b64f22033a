#pragma once
// The one reference solve, used by the corpus (data/: reference.json, W_star.npy), the proof
// checks (proofs_checks/) and the tests (tests/cpu/backend_validation.hpp): the driver's solve on
// a ReferenceBackend at `bits`, and W'_* = A B formed at that precision.
#include "lowrank/core/row_source.hpp"
#include "lowrank/core/solution.hpp"
#include "lowrank/reference/backend.hpp"

namespace lowrank {

struct ReferenceRun {
  Solution<mpreal> sol;
  MatrixMP Wp;  // W'_* = A B at the reference precision; empty when the solve failed
};

ReferenceRun reference_solve(const MatrixXd& W, RowBlockSource& X, const SolveOptions& opt, int bits);

}  // namespace lowrank
