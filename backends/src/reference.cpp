// --backend reference: MPFR at --bits; factors rounded once to double.
#include "lowrank/core/driver.hpp"
#include "lowrank/reference/backend.hpp"
#include "lowrank/backends/registry.hpp"

namespace lowrank::backends {
namespace {
const RegisterBackend registered("reference", [](const BackendRequest& req, const MatrixXd& W,
                                                 RowBlockSource& X, const SolveOptions& opt) {
  ReferenceBackend be(req.bits);
  Solution<mpreal> s = solve(be, to_mp(W), X, opt);
  return SolvedFactors{to_double(s.A), to_double(s.B), s.report};
});
}  // namespace
}  // namespace lowrank::backends
