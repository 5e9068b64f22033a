#include "lowrank/core/plugin.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <mutex>

#include "lowrank/core/error.hpp"

namespace lowrank {

namespace fs = std::filesystem;

std::vector<std::string> plugin_candidates(const std::string& file, const std::string& env_var) {
  if (const char* p = std::getenv(env_var.c_str()); p && *p) return {p};
  std::vector<fs::path> dirs;
  // The executable or shared library this code is linked into (`lowrank`, the Python module).
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&plugin_candidates), &info) && info.dli_fname && *info.dli_fname) {
    std::error_code ec;
    const fs::path self = fs::canonical(info.dli_fname, ec);
    if (!ec) dirs.push_back(self.parent_path());
  }
  std::error_code ec;
  const fs::path exe = fs::canonical("/proc/self/exe", ec);
  if (!ec) dirs.push_back(exe.parent_path());
#ifdef LOWRANK_PLUGIN_DIR
  dirs.push_back(LOWRANK_PLUGIN_DIR);
#endif
  std::vector<std::string> out;
  for (const fs::path& d : dirs) {
    const std::string c = (d / file).string();
    if (std::find(out.begin(), out.end(), c) == out.end()) out.push_back(c);
  }
  return out;
}

namespace {

std::mutex g_mutex;
std::map<std::string, void*>& handles() {
  static std::map<std::string, void*> h;
  return h;
}

void* load(const std::string& file, const std::string& env_var, const std::string& what) {
  const std::vector<std::string> candidates = plugin_candidates(file, env_var);
  std::string looked;
  for (const std::string& path : candidates) {
    looked += (looked.empty() ? "" : ", ") + path;
    if (::access(path.c_str(), F_OK) != 0) continue;
    dlerror();
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!h) {
      const char* e = dlerror();
      throw Error(what + ": cannot load the plugin " + path + ": " + (e ? e : "dlopen failed") +
                  " (is the runtime it needs, e.g. the CUDA Toolkit's libraries, on the loader's path?)");
    }
    using AbiFn = int (*)();
    using InitFn = void (*)(const PluginHost*);
    const auto abi = reinterpret_cast<AbiFn>(dlsym(h, "lowrank_plugin_abi"));
    const auto init = reinterpret_cast<InitFn>(dlsym(h, "lowrank_plugin_init"));
    if (!abi || !init) {
      dlclose(h);
      throw Error(what + ": " + path + " is not a lowrank plugin (no lowrank_plugin_abi / lowrank_plugin_init)");
    }
    if (const int got = abi(); got != plugin_abi) {
      dlclose(h);
      throw Error(what + ": the plugin " + path + " has interface version " + std::to_string(got) +
                  ", this program needs " + std::to_string(plugin_abi) + " (rebuild both from one tree)");
    }
    static const PluginHost host{&pending_signal};
    init(&host);
    return h;
  }
  throw Error(what + ": the plugin " + file + " was not found (looked in " + looked +
              "); this build has no such backend, or the file was moved: set " + env_var + " to its path");
}

}  // namespace

void* plugin_symbol(const std::string& file, const std::string& env_var, const char* symbol,
                    const std::string& what) {
  std::lock_guard<std::mutex> lock(g_mutex);
  void*& h = handles()[file];
  if (!h) h = load(file, env_var, what);
  void* s = dlsym(h, symbol);
  if (!s) throw Error(what + ": the plugin " + file + " has no entry point " + symbol + " (rebuild both from one tree)");
  return s;
}

}  // namespace lowrank
