// `lowrank dynamics train` as a subprocess: each bad parameter is refused with exit 2, one line
// naming the parameter, and nothing written (no --out, no staging folder); a diverging run exits 3
// and writes nothing; a good run writes exactly the documented files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "lowrank/core/npy.hpp"

#ifndef LOWRANK_BIN
#error "LOWRANK_BIN must name the lowrank executable"
#endif

namespace {

namespace fs = std::filesystem;

struct Scratch {
  fs::path path;
  Scratch() {
    std::string t = (fs::temp_directory_path() / "lowrank_dyn_cli_XXXXXX").string();
    if (!mkdtemp(t.data())) throw std::runtime_error("mkdtemp");
    path = t;
  }
  ~Scratch() {
    std::error_code ec;
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add, ec);
    for (auto& e : fs::directory_iterator(path, ec)) fs::permissions(e.path(), fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(path, ec);
  }
  std::size_t entries() const { return std::size_t(std::distance(fs::directory_iterator(path), fs::directory_iterator())); }
};

struct Result {
  int code = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

Result run(const Scratch& log, const std::string& args) {
  const std::string cmd = std::string(LOWRANK_BIN) + " dynamics train " + args + " >" + (log.path / "o.txt").string() + " 2>" +
                          (log.path / "e.txt").string();
  const int st = std::system(cmd.c_str());
  Result r;
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.out = slurp(log.path / "o.txt");
  r.err = slurp(log.path / "e.txt");
  fs::remove(log.path / "o.txt");
  fs::remove(log.path / "e.txt");
  return r;
}

const std::string good = "--width 10 --rank 2 --eps 0.3 --eta 2 --steps 20 --record-every 5 --seed 3";

struct Bad {
  const char* args;
  const char* names;
};

class Refusal : public ::testing::TestWithParam<Bad> {};

TEST_P(Refusal, ExitTwoNamesTheParameterWritesNothing) {
  Scratch logs, parent;
  const std::string out = (parent.path / "run").string();
  const Result r = run(logs, std::string(GetParam().args) + " --out " + out);
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find(GetParam().names), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_EQ(parent.entries(), 0u) << "something was written next to --out";
}

INSTANTIATE_TEST_SUITE_P(
    Dynamics, Refusal,
    ::testing::Values(Bad{"--width 4 --rank 2 --eta 1 --steps 1", "--width"},           // d <= 2r
                      Bad{"--width 10 --rank 2 --eps 0 --eta 1 --steps 1", "--eps"},
                      Bad{"--width 10 --rank 2 --eps -1 --eta 1 --steps 1", "--eps"},
                      Bad{"--width 10 --rank 2 --eta 0 --steps 1", "--eta"},
                      Bad{"--width 10 --rank 2 --eta 1 --observed 0 --steps 1", "--observed"},
                      Bad{"--width 10 --rank 2 --eta 1 --observed 1.5 --steps 1", "--observed"},
                      Bad{"--width 10 --rank 2 --eta 1 --depth 1 --steps 1", "--depth"},
                      Bad{"--width 10 --rank 2 --eta 1 --steps 1 --backend gpu", "--backend"},
                      Bad{"--width 10 --rank 2 --eta 1 --steps 1 --target-rank 11", "--target-rank"}));

// Deep LoRA on given inputs: X.npy is N x d (one row per token); the run uses it as the trainer's
// d x N X (written back as lora_X.npy), --lora-samples defaults to N, and a width that does not
// match the file's features is refused naming both.
TEST(DynamicsCli, LoraInputsFromAFileAreUsedAsGiven) {
  Scratch logs, parent;
  lowrank::MatrixXd X(7, 10);
  for (lowrank::Index i = 0; i < X.size(); ++i) X.data()[i] = std::sin(double(i) + 1.0);
  const std::string xf = (logs.path / "X.npy").string();
  lowrank::write_npy(xf, X);
  const fs::path out = parent.path / "run";
  const Result r = run(logs, "--width 10 --rank 2 --eps 0.3 --eta 0.5 --steps 20 --record-every 5 --seed 3 --compressed "
                            "--gamma 0 --target-rank 3 --lora-inputs " + xf + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const lowrank::MatrixXd got = lowrank::read_matrix((out / "lora_X.npy").string());
  EXPECT_TRUE(got == lowrank::MatrixXd(X.transpose()));
  const auto j = nlohmann::json::parse(slurp(out / "run.json"));
  EXPECT_EQ(j["lora_samples"].get<long>(), 7);
  EXPECT_EQ(j["target_rank"].get<long>(), 3);
  const Result bad = run(logs, "--width 12 --rank 2 --eta 1 --steps 1 --lora-inputs " + xf + " --out " + (parent.path / "b").string());
  EXPECT_EQ(bad.code, 2);
  EXPECT_NE(bad.err.find("10 features, --width is 12"), std::string::npos) << bad.err;
}

TEST(DynamicsCli, UnwritableOutIsRefusedBeforeAnyWork) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  Scratch logs, parent;
  fs::permissions(parent.path, fs::perms::owner_read | fs::perms::owner_exec);
  const Result r = run(logs, good + " --out " + (parent.path / "run").string());
  fs::permissions(parent.path, fs::perms::owner_all);
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_NE(r.err.find("Permission denied"), std::string::npos) << r.err;
  EXPECT_EQ(parent.entries(), 0u);
}

TEST(DynamicsCli, OutOnAReadOnlyFileSystemIsRefused) {
  // procfs refuses mkdir even to root: the staging folder cannot be made, nothing is trained.
  Scratch logs;
  const Result r = run(logs, good + " --out /proc/lowrank_dynamics_test_run");
  EXPECT_EQ(r.code, 4) << r.err;  // an I/O failure, named with the system's text
  EXPECT_NE(r.err.find("No such file or directory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists("/proc/lowrank_dynamics_test_run"));
}

TEST(DynamicsCli, OutUnderAFileIsRefused) {
  Scratch logs, parent;
  std::ofstream(parent.path / "file") << "x";
  const Result r = run(logs, good + " --out " + (parent.path / "file" / "run").string());
  EXPECT_EQ(r.code, 4) << r.err;
  EXPECT_NE(r.err.find("Not a directory"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--out"), std::string::npos) << r.err;
  EXPECT_EQ(parent.entries(), 1u);
}

TEST(DynamicsCli, DivergenceExitsThreeAndWritesNothing) {
  Scratch logs, parent;
  // eta = 1e5 is far beyond the stability limit 2 d^2 / (L s_1^(4/3)) ~ 10 of this problem.
  const Result r = run(logs, "--width 10 --rank 2 --eps 0.3 --eta 1e5 --steps 200 --out " + (parent.path / "run").string());
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_NE(r.err.find("diverged"), std::string::npos) << r.err;
  EXPECT_EQ(parent.entries(), 0u);
}

TEST(DynamicsCli, GoodRunWritesTheDocumentedFiles) {
  Scratch logs, parent;
  const fs::path out = parent.path / "run";
  const Result r = run(logs, good + " --observed 0.5 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"target.npy", "mask.npy", "init/W1.npy", "init/W2.npy", "init/W3.npy", "product.npy", "curve.csv", "run.json"})
    EXPECT_TRUE(fs::exists(out / f)) << f;
  EXPECT_EQ(parent.entries(), 1u) << "staging folder left behind";
  const auto j = nlohmann::json::parse(slurp(out / "run.json"));
  for (const char* k : {"depth", "width", "rank", "observed", "eps", "eta", "weight_decay", "gamma", "steps", "seed",
                        "compressed", "backend", "dtype", "loss_scale", "timings"})
    EXPECT_TRUE(j.contains(k)) << k;
  const lowrank::MatrixXd mask = lowrank::read_matrix((out / "mask.npy").string());
  EXPECT_DOUBLE_EQ(j["loss_scale"].get<double>(), 1.0 / mask.sum());
  const std::string csv = slurp(out / "curve.csv");
  EXPECT_EQ(csv.substr(0, csv.find('\n')), "step,loss,recovery_error,rho,max_invariant_dev,seconds");
  EXPECT_EQ(std::count(csv.begin(), csv.end(), '\n'), 1 + 5);  // steps 0, 5, 10, 15, 20
}

TEST(DynamicsCli, RerunReplacesItsOwnFolderWholeAndRefusesAForeignOne) {
  Scratch logs, parent;
  const fs::path out = parent.path / "run";
  // A folder lowrank did not write (no marker) is refused, untouched, before any training.
  fs::create_directories(out / "init");
  std::ofstream(out / "notes.txt") << "mine";
  Result r = run(logs, good + " --out " + out.string());
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("did not write"), std::string::npos) << r.err;
  EXPECT_EQ(slurp(out / "notes.txt"), "mine");
  fs::remove_all(out);
  // A run with --observed 0.5 writes mask.npy; a rerun without it replaces the whole folder:
  // no mask.npy of the earlier run is left beside the new files.
  r = run(logs, good + " --observed 0.5 --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  ASSERT_TRUE(fs::exists(out / "mask.npy"));
  r = run(logs, good + " --out " + out.string());
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(fs::exists(out / "mask.npy")) << "a file of the previous run was left beside the new ones";
  EXPECT_TRUE(fs::exists(out / "product.npy"));
  EXPECT_EQ(parent.entries(), 1u) << "staging folder left behind";
}

TEST(DynamicsCli, PlotWritesBothPngsAndCompareNeedsARun) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) GTEST_SKIP() << "gnuplot not installed";
  Scratch logs, parent;
  const fs::path a = parent.path / "comp", b = parent.path / "full";
  ASSERT_EQ(run(logs, good + " --compressed --gamma 0 --out " + a.string()).code, 0);
  const Result r = run(logs, good + " --plot --compare " + a.string() + " --out " + b.string());
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"loss.png", "singular_values.png", "spectrum.dat"}) {
    EXPECT_TRUE(fs::exists(b / f)) << f;
    EXPECT_GT(fs::file_size(b / f), 100u) << f;
  }
  // --compare must name a run folder: refused before any work, nothing written.
  const Result bad = run(logs, good + " --plot --compare " + parent.path.string() + " --out " + (parent.path / "x").string());
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("--compare"), std::string::npos) << bad.err;
  EXPECT_FALSE(fs::exists(parent.path / "x"));
}

}  // namespace
