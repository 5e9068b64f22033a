// `lowrank solve --backend reference` run as a subprocess: every bad input gives a nonzero exit,
// exactly one line on stderr, nothing on stdout, and no --out folder; a good input writes
// A.npy, B.npy and report.json and nothing else.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <random>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common.hpp"
#include "lowrank/core/npy.hpp"


#ifndef LOWRANK_BIN
#error "LOWRANK_BIN must name the lowrank executable"
#endif

namespace lowrank::test {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
};

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

RunResult run_cli(const ScratchDir& dir, const std::vector<std::string>& args) {
  std::string cmd = quote(LOWRANK_BIN);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " >" + quote(dir.file("stdout.txt")) + " 2>" + quote(dir.file("stderr.txt"));
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir.file("stdout.txt"));
  r.err = slurp(dir.file("stderr.txt"));
  return r;
}

class Cli : public ::testing::Test {
 protected:
  ScratchDir dir;
  std::string W, X, out;
  void SetUp() override {
    W = dir.file("W.npy");
    X = dir.file("X.npy");
    out = dir.file("out");
    write_npy(W, gaussian(6, 5, 91));
    write_npy(X, gaussian(40, 5, 92));
  }
  std::vector<std::string> args(const std::string& w, const std::string& x, const std::string& rank,
                                std::vector<std::string> more = {}) {
    std::vector<std::string> a = {"solve", "--weights", w, "--acts", x, "--rank", rank, "--out", out, "--block", "8"};
    // --backend reference --bits 128 unless the case sets them itself.
    if (std::find(more.begin(), more.end(), "--backend") == more.end()) more.insert(more.end(), {"--backend", "reference"});
    if (std::find(more.begin(), more.end(), "--bits") == more.end()) more.insert(more.end(), {"--bits", "128"});
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }
  // A refusal: nonzero exit, one line on stderr naming the fault, nothing else anywhere.
  void expect_refused(const std::vector<std::string>& a, const std::vector<std::string>& needles) {
    const RunResult r = run_cli(dir, a);
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "stderr must be one line:\n" << r.err;
    EXPECT_EQ(r.err.rfind("lowrank: error: ", 0), 0u) << r.err;
    for (const auto& n : needles) EXPECT_NE(r.err.find(n), std::string::npos) << "stderr: " << r.err << "missing: " << n;
    EXPECT_TRUE(r.out.empty()) << "stdout: " << r.out;
    EXPECT_FALSE(std::filesystem::exists(out)) << "--out folder was created on a refusal";
    std::filesystem::remove_all(out);
  }
  std::string bad(const std::string& name, const std::string& bytes) {
    write_bytes(dir.file(name), bytes);
    return dir.file(name);
  }
};

TEST_F(Cli, GoodRunWritesExactlyTheThreeFilesAndTheMarker) {
  const RunResult r = run_cli(dir, args(W, X, "3"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(out)) files.push_back(e.path().filename().string());
  std::sort(files.begin(), files.end());
  // .lowrank-output marks the folder as lowrank's, so that a later run may replace it whole.
  EXPECT_EQ(files, (std::vector<std::string>{".lowrank-output", "A.npy", "B.npy", "report.json"}));
  const MatrixXd A = read_matrix(out + "/A.npy"), B = read_matrix(out + "/B.npy");
  ASSERT_EQ(A.rows(), 6);
  ASSERT_EQ(A.cols(), 3);
  ASSERT_EQ(B.rows(), 3);
  ASSERT_EQ(B.cols(), 5);
  // A is the reference U_r rounded once: ||A^T A - I||_F <= (2 + m) r u (rounding of A, then of
  // the double product).
  const double u = 0x1p-53;
  EXPECT_LE((A.transpose() * A - MatrixXd::Identity(3, 3)).norm(), (2 + 6) * 3 * u);
  const auto rep = nlohmann::json::parse(slurp(out + "/report.json"));
  EXPECT_EQ(rep["method"], "coala");
  EXPECT_EQ(rep["precision"], "mpfr128");
  const double f = rep["objective"], tail = rep["eckart_young_tail"];
  // Both are 128-bit values equal to ~1e-35, each rounded once to double.
  EXPECT_LE(std::abs(f - tail), 2 * u * tail);
}

TEST_F(Cli, RefusesBadArguments) {
  expect_refused(args(W, X, "6"), {"rank 6 out of range", "min(m, n) = 5"});
  expect_refused(args(W, X, "-1"), {"rank -1 out of range"});
  expect_refused(args(W, X, "2", {"--mu", "-0.5"}), {"mu must be", ">= 0"});
  expect_refused(args(W, X, "2", {"--method", "svd"}), {"unknown method 'svd'"});
  expect_refused(args(W, X, "2", {"--backend", "abacus"}), {"unknown backend 'abacus'"});
  expect_refused(args(W, X, "2", {"--bits", "32"}), {"--bits", "32"});
  expect_refused(args(W, X, "2", {"--method", "limit", "--mu", "1e-3"}), {"limit", "no --mu"});
  // Command-line syntax errors (CLI11's) are one line too.
  expect_refused({"solve", "--weights", W, "--acts", X, "--out", out}, {"--rank", "required"});
  expect_refused(args(W, X, "2", {"--rank", "3"}), {"--rank"});
  expect_refused(args(W, X, "two"), {"--rank", "two"});
  const std::string X4 = dir.file("X4.npy");
  write_npy(X4, gaussian(40, 4, 93));
  expect_refused(args(W, X4, "2"), {"shape mismatch", "6 x 5", "40 x 4"});
  expect_refused(args(dir.file("none.npy"), X, "2"), {dir.file("none.npy"), "cannot open"});
  expect_refused(args(W, dir.file("none.npy"), "2"), {dir.file("none.npy"), "cannot open"});
  const std::string W0 = dir.file("W0.npy");
  write_npy(W0, MatrixXd(0, 5));
  expect_refused(args(W0, X, "0"), {"W is empty"});
  const std::string X0 = dir.file("X0.npy");
  write_npy(X0, MatrixXd(0, 5));
  expect_refused(args(W, X0, "2"), {"no tokens"});
}

// Options that the chosen backend would ignore are refused, not ignored (issue 15); a folder given
// as an input file is named as such (it was "truncated .npy file: shorter than the 8-byte magic").
TEST_F(Cli, RefusesIgnoredOptionsAndFolders) {
  expect_refused(args(W, X, "3", {"--dtype", "float32"}), {"--dtype float32", "--backend reference", "--bits"});
  std::filesystem::create_directories(dir.file("a_folder"));
  expect_refused(args(dir.file("a_folder"), X, "3"), {"a_folder", "is a directory, not an .npy file"});
  expect_refused(args(W, dir.file("a_folder"), "3"), {"a_folder", "is a directory, not an .npy file"});
}

TEST_F(Cli, RefusesBadFiles) {
  const std::string good = slurp(W);
  expect_refused(args(bad("trunc.npy", good.substr(0, good.size() - 3)), X, "2"), {"trunc.npy", "truncated"});
  std::string magic = good;
  magic[0] = 'P';
  expect_refused(args(bad("magic.npy", magic), X, "2"), {"magic.npy", "bad magic"});
  expect_refused(args(bad("hdr.npy", npy_bytes("{'descr': '<f8', 'shape': (6, 5), }", payload(gaussian(6, 5, 91), false))), X, "2"),
                 {"hdr.npy", "bad .npy header", "fortran_order"});
  expect_refused(args(bad("be.npy", npy_bytes(npy_dict(">f8", false, "(6, 5)"), std::string(240, '\0'))), X, "2"),
                 {"be.npy", "big-endian"});
  expect_refused(args(bad("i4.npy", npy_bytes(npy_dict("<i4", false, "(6, 5)"), std::string(120, '\0'))), X, "2"),
                 {"i4.npy", "unsupported dtype '<i4'"});
  expect_refused(args(W, bad("c8.npy", npy_bytes(npy_dict("<c8", false, "(40, 5)"), std::string(1600, '\0'))), "2"),
                 {"c8.npy", "unsupported dtype '<c8'"});
  expect_refused(args(W, bad("3d.npy", npy_bytes(npy_dict("<f8", false, "(4, 2, 5)"), std::string(320, '\0'))), "2"),
                 {"3d.npy", "3 dimensions"});
  expect_refused(args(bad("long.npy", good + std::string(16, '\0')), X, "2"), {"long.npy", "does not match the data"});
  MatrixXd w = gaussian(6, 5, 91);
  w(4, 4) = std::numeric_limits<double>::quiet_NaN();
  write_matrix_raw(dir.file("nan.npy"), w);
  expect_refused(args(dir.file("nan.npy"), X, "2"), {"nan.npy", "weights W", "(4, 4)", "NaN"});
  MatrixXd x = gaussian(40, 5, 92);
  x(33, 1) = -std::numeric_limits<double>::infinity();
  write_matrix_raw(dir.file("inf.npy"), x, true, true);  // Fortran order, float32, 5th block of 8
  expect_refused(args(W, dir.file("inf.npy"), "2"), {"inf.npy", "(33, 1)", "Inf"});
}

TEST_F(Cli, ThreadsOnlyForTheCpuBackend) {
  expect_refused(args(W, X, "2", {"--threads", "2"}), {"--threads", "--backend reference"});
  expect_refused(args(W, X, "2", {"--backend", "cpu", "--threads", "-1"}), {"--threads must be >= 1"});
}

TEST_F(Cli, VerifyOnlyForTheCudaBackend) {
  expect_refused(args(W, X, "2", {"--verify"}), {"--verify", "cuda", "--backend reference"});
  expect_refused(args(W, X, "2", {"--backend", "cpu", "--verify"}), {"--verify", "--backend cpu"});
}

// Issue 12, reproducible results: the same command, inputs, backend, dtype and thread count give
// the same bytes of A.npy and B.npy, for the stable and the unstable method, at every precision.
// (The BLAS kernel and the thread count may change the bits: README, "Reproducible results".)
TEST(CliReproducible, TwoRunsGiveIdenticalFactors) {
  ScratchDir dir;
  write_npy(dir.file("W.npy"), gaussian(64, 96, 41));
  write_npy(dir.file("X.npy"), gaussian(2000, 96, 42));
  struct Variant {
    std::vector<std::string> args;
  };
  const std::vector<Variant> variants = {
      {{"--backend", "cpu", "--dtype", "float32", "--threads", "2"}},
      {{"--backend", "cpu", "--dtype", "float64", "--threads", "2"}},
      {{"--backend", "cpu", "--dtype", "float32", "--threads", "2", "--method", "svd-llm"}},
      {{"--backend", "cpu", "--dtype", "float64", "--threads", "1", "--method", "svd-llm"}},
      {{"--backend", "reference", "--bits", "128"}},
  };
  int k = 0;
  for (const Variant& v : variants) {
    std::string bytes[2][2];
    for (int run = 0; run < 2; ++run) {
      const std::string out = dir.file("out" + std::to_string(k) + "_" + std::to_string(run));
      std::vector<std::string> a = {"solve", "-W", dir.file("W.npy"), "-X", dir.file("X.npy"), "-r", "24",
                                    "--block", "512", "-q", "--out", out};
      a.insert(a.end(), v.args.begin(), v.args.end());
      const RunResult r = run_cli(dir, a);
      ASSERT_EQ(r.exit_code, 0) << r.err;
      bytes[run][0] = slurp(out + "/A.npy");
      bytes[run][1] = slurp(out + "/B.npy");
      // A cpu report names the BLAS, the kernel it chose and the threads it ran with.
      const auto rep = nlohmann::json::parse(slurp(out + "/report.json"));
      if (v.args[1] == "cpu") {
        ASSERT_TRUE(rep.contains("blas")) << rep.dump();
        EXPECT_NE(rep["blas"]["config"].get<std::string>().find("OpenBLAS"), std::string::npos) << rep["blas"];
        EXPECT_FALSE(rep["blas"]["kernel"].get<std::string>().empty());
        EXPECT_EQ(rep["blas"]["threads"], v.args[5] == "2" ? 2 : 1);
      } else {
        EXPECT_FALSE(rep.contains("blas"));
      }
    }
    std::string what;
    for (const auto& x : v.args) what += x + " ";
    EXPECT_FALSE(bytes[0][0].empty());
    EXPECT_TRUE(bytes[0][0] == bytes[1][0]) << "A.npy differs between two runs of " << what;
    EXPECT_TRUE(bytes[0][1] == bytes[1][1]) << "B.npy differs between two runs of " << what;
    ++k;
  }
}

// Streaming in float32 holds one block in float, never in double (RowBlockSource::next_float), and
// reads the file in 4 MiB pieces: `solve --backend cpu --dtype float32 --block 65536` at n = 256
// holds a 64 MiB block, R, tpqrt's workspace and the read piece, so its peak stays under issue
// 12's 150 MB whatever N (bench/memory/stream_float32.sh runs the 1.5 GB case: N = 1.5e6). Here
// N = 2^17 and 2^18 (128 and 256 MiB files): both under 150 MB, and the larger N adds at most 8 MiB
// (allocator slack), so the peak does not grow with N.
TEST(CliMemory, Float32StreamingHoldsOneFloatBlock) {
#ifdef LOWRANK_UNDER_ASAN
  GTEST_SKIP() << "resident memory is not the program's under AddressSanitizer (shadow memory, redzones)";
#else
  ScratchDir dir;
  const Index n = 256;
  write_npy(dir.file("W.npy"), gaussian(64, n, 31));
  std::mt19937_64 rng(32);
  std::normal_distribution<float> g;
  std::vector<float> rows(std::size_t(4096 * n));
  long peak[2] = {0, 0};
  for (int k = 0; k < 2; ++k) {
    const Index N = Index(1) << (17 + k);
    const std::string x = dir.file("X" + std::to_string(k) + ".npy");
    {
      std::ofstream f(x, std::ios::binary);
      f << npy_bytes(npy_dict("<f4", false, shape2(N, n)), "");
      for (Index done = 0; done < N; done += 4096) {
        for (float& v : rows) v = g(rng);
        f.write(reinterpret_cast<const char*>(rows.data()), std::streamsize(rows.size() * sizeof(float)));
      }
      ASSERT_TRUE(f.good());
    }
    peak[k] = peak_rss_of({LOWRANK_BIN, "solve", "-W", dir.file("W.npy"), "-X", x, "-r", "32", "--backend", "cpu",
                           "--dtype", "float32", "--block", "65536", "-q", "--out", dir.file("out" + std::to_string(k))});
    ASSERT_GT(peak[k], 0) << "the solve failed";
    EXPECT_LT(peak[k], 150L << 20) << "N = " << N << ": peak " << (peak[k] >> 20) << " MiB";
    std::filesystem::remove(x);
  }
  EXPECT_LE(peak[1] - peak[0], 8L << 20) << "peak grew from " << (peak[0] >> 20) << " to " << (peak[1] >> 20)
                                         << " MiB when N doubled";
#endif
}

}  // namespace
}  // namespace lowrank::test
