#include "solve_backends.hpp"

#include "lowrank/core/error.hpp"

namespace lowrank::cli {

std::map<std::string, BackendRunner>& backend_registry() {
  static std::map<std::string, BackendRunner> registry;
  return registry;
}

void require_backend(const std::string& backend) {
  const auto& reg = backend_registry();
  if (reg.count(backend)) return;
  std::string known;
  for (const auto& [name, run] : reg) known += (known.empty() ? "" : ", ") + name;
  throw Error("unknown backend '" + backend + "' (this build has: " + known + ")");
}

SolvedFactors solve_with_backend(const std::string& backend, const BackendRequest& req, const MatrixXd& W,
                                 RowBlockSource& X, const SolveOptions& opt) {
  require_backend(backend);
  return backend_registry().at(backend)(req, W, X, opt);
}

}  // namespace lowrank::cli
