#pragma once
// Backends that pull in large runtime libraries (the CUDA backend: cuBLAS, cuSOLVER, cudart,
// a few hundred MB mapped and relocated at start-up) are built as plugins that `lowrank` and the
// Python module load with dlopen only when that backend is asked for, so that `lowrank --help`,
// a cpu or reference solve and a streaming run do not carry them.
//
// A plugin is a shared library that exports, with C linkage,
//   int  lowrank_plugin_abi();                          // == plugin_abi below, checked on load
//   void lowrank_plugin_init(const PluginHost* host);   // called once, right after loading
// and its own entry points, found with plugin_symbol(). The plugin carries its own copy of
// lowrank_core (linked statically, symbols kept local), so process-wide state the host owns is
// handed over in PluginHost: today the interrupt flag (SIGINT/SIGTERM, error.hpp), which the
// plugin's long loops poll through check_interrupted().
#include <string>
#include <vector>

namespace lowrank {

// Bumped whenever an entry point's signature or a type crossing the boundary changes.
inline constexpr int plugin_abi = 2;  // 2: BackendRequest::verify

// The CUDA backend's plugin (backends/src/cuda_plugin.cpp) and the variable that overrides where
// it is looked for.
inline constexpr const char* cuda_plugin_file = "liblowrank_backends_cuda.so";
inline constexpr const char* cuda_plugin_env = "LOWRANK_CUDA_PLUGIN";

struct PluginHost {
  int (*pending_signal)();  // the host's pending_signal()
};

// Where plugin `file` (e.g. "liblowrank_backends_cuda.so") is looked for, in order: the path in
// environment variable `env_var` when set (and only there), the folder of the executable or shared
// library holding this code, the build folder it was configured in.
std::vector<std::string> plugin_candidates(const std::string& file, const std::string& env_var);

// The address of `symbol` in plugin `file`, loading and initializing the plugin on first use.
// Throws Error with one line naming what was missing: the plugin (and where it was looked for),
// a library it needs (dlerror's text names it), an ABI mismatch, or the symbol. `what` names the
// feature for the message ("--backend cuda").
void* plugin_symbol(const std::string& file, const std::string& env_var, const char* symbol,
                    const std::string& what);

}  // namespace lowrank
