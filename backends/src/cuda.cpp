// --backend cuda from the host side: registered when this build has the CUDA plugin
// (LOWRANK_CUDA_PLUGIN, set by backends/CMakeLists.txt); the runner loads
// liblowrank_backends_cuda.so on first use (core/plugin.hpp) and calls its lowrank_cuda_solve
// (src/cuda_plugin.cpp). Nothing of CUDA is linked into `lowrank` or the Python module.
#ifdef LOWRANK_CUDA_PLUGIN
#include "lowrank/backends/registry.hpp"
#include "lowrank/core/plugin.hpp"

namespace lowrank::backends {
namespace {

const RegisterBackend registered("cuda", [](const BackendRequest& req, const MatrixXd& W, RowBlockSource& X,
                                            const SolveOptions& opt) {
  using Entry = void (*)(const CudaSolveArgs*, SolvedFactors*);
  const auto entry = reinterpret_cast<Entry>(
      plugin_symbol(cuda_plugin_file, cuda_plugin_env, "lowrank_cuda_solve", "--backend cuda"));
  const CudaSolveArgs args{&req, &W, &X, &opt};
  SolvedFactors out;
  entry(&args, &out);
  return out;
});

}  // namespace
}  // namespace lowrank::backends
#endif  // LOWRANK_CUDA_PLUGIN
