// lowrank reproduce: both papers' claims regenerated into one HTML report. The experiments are
// Python (python/lowrank/reproduce/: PyTorch runs the real network, matplotlib draws), calling the
// same C++ driver through the module; this command runs them with the Python this build was
// configured with (scripts/setup.sh: build/venv), or $LOWRANK_PYTHON.
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "commands.hpp"
#include "lowrank/core/error.hpp"

namespace lowrank::cli {
namespace {

struct ReproduceArgs {
  std::string out, only;
  bool quick = false, quiet = false;
};

void add_reproduce(CLI::App& app) {
  auto a = std::make_shared<ReproduceArgs>();
  CLI::App* sub = app.add_subcommand(
      "reproduce",
      "Regenerate every table and plot of both papers (proof-check sweeps, all-MiniLM-L6-v2's real layers, "
      "held-out error with too few tokens, end-to-end embeddings, deep low-rank dynamics) into DIR/index.html "
      "(self-contained) and one CSV per section; prints how many of the checked claims hold");
  sub->add_option("--out,-o", a->out, "output folder (replaced as a whole at the end)")->required();
  sub->add_flag("--quick", a->quick, "smaller sweeps: under 5 minutes on 2 cores (what the test suite runs)");
  sub->add_option("--only", a->only,
                  "comma-separated sections: prove,real_layers,heldout,end_to_end,dynamics,dynamics_speed,deep_lora");
  sub->add_flag("-q,--quiet", a->quiet, "no progress lines on stderr");
  sub->callback([a]() {
    std::string py;
    if (const char* env = std::getenv("LOWRANK_PYTHON")) py = env;
#ifdef LOWRANK_PYTHON_EXECUTABLE
    if (py.empty()) py = LOWRANK_PYTHON_EXECUTABLE;
#endif
    if (py.empty() || access(py.c_str(), X_OK) != 0)
      throw Error("reproduce needs the project's Python environment (" + (py.empty() ? std::string("none configured") : py) +
                  " is not there): run scripts/setup.sh, or set LOWRANK_PYTHON to a Python with the lowrank package");
#ifdef LOWRANK_PYTHON_PATH
    // The package of this build first (BUILD/python), as the venv's .pth file also says.
    const char* old = std::getenv("PYTHONPATH");
    std::string path = LOWRANK_PYTHON_PATH;
    if (old && *old) path += std::string(":") + old;
    setenv("PYTHONPATH", path.c_str(), 1);
#endif
    std::vector<std::string> args = {py, "-m", "lowrank.reproduce", "--out", a->out};
    if (a->quick) args.push_back("--quick");
    if (a->quiet) args.push_back("--quiet");
    if (!a->only.empty()) args.insert(args.end(), {"--only", a->only});
    std::vector<char*> argv;
    for (auto& s : args) argv.push_back(s.data());
    argv.push_back(nullptr);
    std::cout.flush();
    execv(py.c_str(), argv.data());
    throw IoError(py, "cannot run the Python interpreter", errno);
  });
}
const RegisterCommand registered(70, add_reproduce);

}  // namespace
}  // namespace lowrank::cli
