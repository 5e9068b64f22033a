#include "lowrank/dynamics/run.hpp"

#include "lowrank/fast/cpu_backend.hpp"
#include "lowrank/reference/backend.hpp"
#ifdef LOWRANK_CUDA_PLUGIN
#include "lowrank/core/plugin.hpp"
#endif

namespace lowrank::dynamics {


RunOutput run(const Config& cfg, const BackendChoice& choice) {
  validate(cfg);
  if (choice.backend == "reference") {
    ReferenceBackend be(choice.bits);
    return run_on(be, cfg);
  }
  if (choice.backend == "cpu") {
    if (choice.dtype == Dtype::float32) {
      CpuBackend<float> be;
      return run_on(be, cfg);
    }
    CpuBackend<double> be;
    return run_on(be, cfg);
  }
  if (choice.backend == "cuda") {
#ifdef LOWRANK_CUDA_PLUGIN
    // cuBLAS lives in the CUDA plugin (core/plugin.hpp), loaded here on first use.
    using Entry = void (*)(const Config*, Dtype, RunOutput*);
    const auto entry = reinterpret_cast<Entry>(
        plugin_symbol(cuda_plugin_file, cuda_plugin_env, "lowrank_cuda_dynamics", "--backend cuda"));
    RunOutput out;
    entry(&cfg, choice.dtype, &out);
    return out;
#else
    throw Error("--backend cuda: this build has no CUDA backend (configure with -DLOWRANK_CUDA=ON)");
#endif
  }
  throw Error("--backend must be reference, cpu or cuda for dynamics, got '" + choice.backend + "'");
}

}  // namespace lowrank::dynamics
