#pragma once
// Runs the one driver over a backend named at run time (`lowrank solve --backend`, and
// `lowrank.solve(backend=...)` from Python) and rounds the factors to double for output. Backends
// register themselves (src/reference.cpp, src/cpu.cpp, src/cuda.cpp): lowrank_backends is an
// OBJECT library so that every registration reaches the `lowrank` binary and the Python module.
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "lowrank/core/npy.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/core/solution.hpp"

namespace lowrank::backends {

struct SolvedFactors {
  MatrixXd A, B;
  SolveReport report;
};

struct BackendRequest {
  Dtype dtype = Dtype::float64;  // working precision (cpu, cuda)
  int bits = 256;                // precision (reference)
  bool quiet = false;            // no progress line on stderr
  std::string svd = "gesvd";     // SVD driver (cuda): gesvd | gesvdj | gesvdp | gesvdr
  bool verify = false;           // check every SVD on the device (cuda)
  int threads = 0;               // BLAS threads (cpu); 0 leaves OpenBLAS's default
};

using BackendRunner = std::function<SolvedFactors(const BackendRequest&, const MatrixXd& W,
                                                  RowBlockSource& X, const SolveOptions&)>;
std::map<std::string, BackendRunner>& backend_registry();
std::vector<std::string> backend_names();  // those of this build, sorted

struct RegisterBackend {
  RegisterBackend(const std::string& name, BackendRunner run) { backend_registry()[name] = std::move(run); }
};

// Throws Error naming the backends this build has when `backend` is not one of them.
void require_backend(const std::string& backend);

// The arguments of the CUDA plugin's solve entry, lowrank_cuda_solve(const CudaSolveArgs*,
// SolvedFactors*) (src/cuda.cpp loads it, src/cuda_plugin.cpp defines it).
struct CudaSolveArgs {
  const BackendRequest* req;
  const MatrixXd* W;
  RowBlockSource* X;
  const SolveOptions* opt;
};

SolvedFactors solve_with_backend(const std::string& backend, const BackendRequest& req, const MatrixXd& W,
                                 RowBlockSource& X, const SolveOptions& opt);

}  // namespace lowrank::backends
