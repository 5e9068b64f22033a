#pragma once
// Runs the one driver over the backend named on the command line and rounds the factors to
// double for output. Backends register themselves (backend_reference.cpp, backend_cpu.cpp, ...).
#include <functional>
#include <map>
#include <string>

#include "lowrank/core/npy.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/core/solution.hpp"

namespace lowrank::cli {

struct SolvedFactors {
  MatrixXd A, B;
  SolveReport report;
};

struct BackendRequest {
  Dtype dtype = Dtype::float64;  // working precision (cpu, cuda)
  int bits = 256;                // precision (reference)
  bool quiet = false;            // no progress line on stderr
  std::string svd = "gesvd";     // SVD driver (cuda): gesvd | gesvdj | gesvdp | gesvdr
};

using BackendRunner = std::function<SolvedFactors(const BackendRequest&, const MatrixXd& W,
                                                  RowBlockSource& X, const SolveOptions&)>;
std::map<std::string, BackendRunner>& backend_registry();

struct RegisterBackend {
  RegisterBackend(const std::string& name, BackendRunner run) { backend_registry()[name] = std::move(run); }
};

// Throws Error naming the backends this build has when `backend` is not one of them.
void require_backend(const std::string& backend);

SolvedFactors solve_with_backend(const std::string& backend, const BackendRequest& req, const MatrixXd& W,
                                 RowBlockSource& X, const SolveOptions& opt);

}  // namespace lowrank::cli
