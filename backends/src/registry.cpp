#include "lowrank/backends/registry.hpp"

#include "lowrank/core/error.hpp"

namespace lowrank::backends {

std::map<std::string, BackendRunner>& backend_registry() {
  static std::map<std::string, BackendRunner> registry;
  return registry;
}

std::vector<std::string> backend_names() {
  std::vector<std::string> names;
  for (const auto& [name, run] : backend_registry()) names.push_back(name);
  return names;
}

void require_backend(const std::string& backend) {
  if (backend_registry().count(backend)) return;
  std::string known;
  for (const auto& name : backend_names()) known += (known.empty() ? "" : ", ") + name;
  throw Error("unknown backend '" + backend + "' (this build has: " + known + ")");
}

SolvedFactors solve_with_backend(const std::string& backend, const BackendRequest& req, const MatrixXd& W,
                                 RowBlockSource& X, const SolveOptions& opt) {
  require_backend(backend);
  return backend_registry().at(backend)(req, W, X, opt);
}

}  // namespace lowrank::backends
