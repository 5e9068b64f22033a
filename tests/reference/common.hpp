#pragma once
// Shared helpers of the reference test suite: seeded test matrices, hand-made .npy files
// (including malformed ones), a scratch folder per test.
#include <gtest/gtest.h>

#include "lowrank/core/error.hpp"
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/random.hpp"

// Defined when this test is built with AddressSanitizer (clang or gcc): resident memory and
// address-space caps mean nothing there (shadow memory, redzones), so those checks skip.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define LOWRANK_UNDER_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define LOWRANK_UNDER_ASAN 1
#endif

namespace lowrank::test {

// A fresh scratch folder per test, removed afterwards.
class ScratchDir {
 public:
  ScratchDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = info ? std::string(info->test_suite_name()) + "." + info->name() : "scratch";
    for (char& c : name)
      if (c == '/') c = '_';
    // mkdtemp: unique even when several copies of this suite run at once (ctest -j, or other
    // build folders of the same tree on the same machine).
    std::string templ = (std::filesystem::temp_directory_path() / ("lowrank_ref_" + name + "_XXXXXX")).string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + templ);
    path_ = templ;
  }
  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Gaussian matrix from a seed (bit-for-bit reproducible on one platform).
// Peak resident memory, bytes, of the program `argv[0]` run with `argv` (stdout and stderr to
// /dev/null); -1 when it does not exit 0. Measured by GNU time (Debian's `time`, installed by
// scripts/setup.sh) as the wait4 ru_maxrss of its own child: Linux carries the resident set of the
// process that calls exec into ru_maxrss, so a child forked straight from this test would be
// charged this test's memory (100 MB in a test that links the CUDA libraries); `time` is 2 MB.
inline long peak_rss_of(std::vector<std::string> argv_s) {
  char out[] = "/tmp/lowrank_peak_rss_XXXXXX";
  const int fd = ::mkstemp(out);
  if (fd < 0) return -1;
  ::close(fd);
  argv_s.insert(argv_s.begin(), {"/usr/bin/time", "-f", "%M", "-o", out});
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int devnull = ::open("/dev/null", O_WRONLY);
    ::dup2(devnull, 1);
    ::dup2(devnull, 2);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  int status = 0;
  long kb = -1;
  if (pid > 0 && ::waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
    std::ifstream f(out);
    f >> kb;
  }
  std::remove(out);
  return kb < 0 ? -1 : kb * 1024;
}

// Seeded test matrices from the project's one double-precision generator (core/random.hpp),
// bit-reproducible on every platform (std::normal_distribution is not).
inline MatrixXd gaussian(Index rows, Index cols, std::uint64_t seed) {
  SplitMixRng rng(seed);
  return gaussian(rows, cols, rng);
}

// Small integers in [-k, k]: products and sums of these are exact in binary floating point.
inline MatrixXd small_ints(Index rows, Index cols, std::uint64_t seed, int k = 3) {
  SplitMixRng rng(seed);
  MatrixXd m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = double(int(rng.next_u64() % std::uint64_t(2 * k + 1)) - k);
  return m;
}

// Raw .npy bytes with a hand-written header dict, so that malformed files can be made.
inline std::string npy_bytes(const std::string& dict, const std::string& data, int major = 1) {
  std::string header = dict;
  const std::size_t prefix = major == 1 ? 10 : 12;
  const std::size_t total = prefix + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header.push_back('\n');
  std::string out = "\x93NUMPY";
  out.push_back(static_cast<char>(major));
  out.push_back(0);
  const std::uint32_t len = static_cast<std::uint32_t>(header.size());
  out.push_back(static_cast<char>(len & 0xff));
  out.push_back(static_cast<char>((len >> 8) & 0xff));
  if (major != 1) {
    out.push_back(static_cast<char>((len >> 16) & 0xff));
    out.push_back(static_cast<char>((len >> 24) & 0xff));
  }
  return out + header + data;
}

inline std::string npy_dict(const std::string& descr, bool fortran, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': " + (fortran ? "True" : "False") +
         ", 'shape': " + shape + ", }";
}

// The entries of m in C (row-major) or Fortran (column-major) order, as float64 or float32.
inline std::string payload(const MatrixXd& m, bool fortran, bool f32 = false) {
  std::string s;
  auto put = [&](double v) {
    if (f32) {
      const float f = static_cast<float>(v);
      s.append(reinterpret_cast<const char*>(&f), 4);
    } else {
      s.append(reinterpret_cast<const char*>(&v), 8);
    }
  };
  if (fortran) {
    for (Index j = 0; j < m.cols(); ++j)
      for (Index i = 0; i < m.rows(); ++i) put(m(i, j));
  } else {
    for (Index i = 0; i < m.rows(); ++i)
      for (Index j = 0; j < m.cols(); ++j) put(m(i, j));
  }
  return s;
}

inline std::string shape2(Index r, Index c) { return "(" + std::to_string(r) + ", " + std::to_string(c) + ")"; }

inline void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  f.close();
  if (!f) throw std::runtime_error("test helper could not write " + path);
}

// A well-formed 2-D .npy file (C or Fortran order, float64 or float32) written by hand, not
// through core's writer, so that the reader is checked against an independent writer.
inline void write_matrix_raw(const std::string& path, const MatrixXd& m, bool fortran = false,
                             bool f32 = false) {
  write_bytes(path, npy_bytes(npy_dict(f32 ? "<f4" : "<f8", fortran, shape2(m.rows(), m.cols())),
                              payload(m, fortran, f32)));
}

// Expects `f` to throw lowrank::Error whose message is one line containing every one of `needles`.
template <class F>
void expect_error(F&& f, const std::vector<std::string>& needles) {
  try {
    f();
    ADD_FAILURE() << "no error thrown; expected one mentioning '" << needles.front() << "'";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg << "\nmissing: " << n;
    EXPECT_EQ(msg.find('\n'), std::string::npos) << "message must be one line: " << msg;
  }
}

}  // namespace lowrank::test
