// Streaming larger than memory: X (N x n, N = 2^21, n = 128: 2 GiB as float64) is synthesized
// block by block and streamed through CpuBackend<double>'s TSQR under an address-space cap of
// 256 MiB set by the test itself (setrlimit(RLIMIT_AS): any attempt to hold X would fail). The
// result is checked against the exact answer, and the peak resident memory against O(n^2 + block n).
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <Eigen/QR>
#include <Eigen/SVD>
#include <cstdint>
#include <fstream>
#include <string>

#include "common.hpp"  // tests/reference: LOWRANK_UNDER_ASAN
#include "lowrank/core/driver.hpp"
#include "lowrank/data/generate.hpp"
#include "lowrank/fast/cpu_backend.hpp"


namespace {

using namespace lowrank;

// X^T = [D_1 B; D_2 B; ...]: copies of a fixed well-conditioned B (b0 x n) with each copy's rows
// multiplied by a pseudo-random sign (D_k = diag(+-1)). Then X X^T = k B^T B exactly (k copies), so
// R = sqrt(k) qr_R(B) up to row signs, and COALA's W' is that of B: the exact answer is known
// without ever holding X.
class RepeatedBlockSource final : public RowBlockSource {
 public:
  RepeatedBlockSource(MatrixXd base, Index copies) : base_(std::move(base)), N_(base_.rows() * copies) {}
  Index rows() const override { return N_; }
  Index cols() const override { return base_.cols(); }
  double data_unit_roundoff() const override { return 0x1p-53; }
  void reset() override { next_ = 0; }
  bool next(Index max_rows, MatrixXd& block) override {
    if (next_ >= N_) return false;
    const Index b = std::min(max_rows, N_ - next_), b0 = base_.rows();
    block.resize(b, base_.cols());
    for (Index j = 0; j < base_.cols(); ++j)
      for (Index i = 0; i < b; ++i) {
        const std::uint64_t g = std::uint64_t(next_ + i);
        const std::uint64_t h = (g * 0x9E3779B97F4A7C15ull) >> 63;  // sign of this row of this copy
        block(i, j) = (h ? -1.0 : 1.0) * base_(Index(g % std::uint64_t(b0)), j);
      }
    next_ += b;
    return true;
  }
  std::string name() const override { return "generated (" + std::to_string(N_) + " x " + std::to_string(base_.cols()) + ")"; }

 private:
  MatrixXd base_;
  Index N_, next_ = 0;
};

long vm_size_bytes() { return proc_status_bytes("VmSize"); }  // current address-space size

TEST(CpuStreaming, TwoGiBUnderA256MiBCapAndPeakIndependentOfN) {
  set_cpu_threads(1);
  const Index n = 128, b0 = 512, m = 96, r = 24, block = 4096;
  const MatrixXd B = data::generate_matrix(
      [&] { data::MatrixSpec s; s.rows = b0; s.cols = n; s.cond = 10.0; return s; }(), 7, 128);
  const MatrixXd W = data::generate_matrix(
      [&] { data::MatrixSpec s; s.rows = m; s.cols = n; s.cond = 10.0; s.mode = data::Mode::arithmetic; return s; }(), 8, 128);

  // Exact answer from B in long double (u = 2^-64): R_B, then U_r of W R_B^T, W'_* = U_r U_r^T W.
  using LMat = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
  const LMat Bl = B.cast<long double>(), Wl = W.cast<long double>();
  Eigen::HouseholderQR<LMat> qr(Bl);
  const LMat RB = qr.matrixQR().topRows(n).triangularView<Eigen::Upper>();
  Eigen::BDCSVD<LMat> svd(Wl * RB.transpose(), Eigen::ComputeThinU);
  const LMat Ur = svd.matrixU().leftCols(r);
  const MatrixXd Wstar = (Ur * (Ur.transpose() * Wl)).cast<double>();
  const double s_r = double(svd.singularValues()(r - 1)), s_r1 = double(svd.singularValues()(r));

  SolveOptions opt;
  opt.rank = r;
  opt.block_rows = block;

  // A first, 16x smaller run (N = 2^17: 128 MiB): it warms every buffer, and its peak is the
  // baseline that the 2 GiB run must not exceed (peak memory independent of N).
  Index copies_small = (Index(1) << 17) / b0, copies_big = (Index(1) << 21) / b0;
  {
    CpuBackend<double> be;
    RepeatedBlockSource X(B, copies_small);
    const Solution<double> s = solve(be, W, X, opt);
    ASSERT_TRUE(s.report.ok());
  }
  const long peak_small = peak_rss_bytes();

#ifdef LOWRANK_UNDER_ASAN
  // Under AddressSanitizer (scripts/sanitize.sh) the address space holds terabytes of shadow
  // memory and every allocation carries redzones, so neither the RLIMIT_AS cap nor the RSS model
  // means anything there; what ASan checks is the streaming itself: N = 2^19 (512 MiB) streamed,
  // the answer within the same bound, no memory error.
  copies_big = (Index(1) << 19) / b0;
  CpuBackend<double> be;
  RepeatedBlockSource X(B, copies_big);
  const Solution<double> s = solve(be, W, X, opt);
  ASSERT_TRUE(s.report.ok());
  ASSERT_EQ(be.stats().tokens, copies_big * b0);
  (void)peak_small;
#else
  // The cap: whatever the process maps now, plus 256 MiB. X alone is 2 GiB.
  const long cap = 256L << 20;
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_AS, &lim), 0);
  const rlimit old = lim;
  lim.rlim_cur = rlim_t(vm_size_bytes() + cap);
  ASSERT_EQ(setrlimit(RLIMIT_AS, &lim), 0);
  const double x_bytes = double(copies_big * b0) * double(n) * 8.0;
  ASSERT_GE(x_bytes, 8.0 * double(cap)) << "the data must exceed the cap 8 times over";

  CpuBackend<double> be;
  RepeatedBlockSource X(B, copies_big);
  Solution<double> s;
  ASSERT_NO_THROW(s = solve(be, W, X, opt));
  setrlimit(RLIMIT_AS, &old);
  ASSERT_TRUE(s.report.ok());
  ASSERT_EQ(be.stats().tokens, copies_big * b0);

  // Memory: the backend's own buffers are exactly R, the T factor (nb x nb) and the work (nb x n)
  // of the recursive-panel tpqrt, tau, and one block of doubles: 8 (n^2 + nb^2 + nb n + n + block n)
  // bytes, nb = min(n, 256); and the process's peak RSS did not grow over the 16x smaller run by
  // more than 8 MiB (allocator slack), so it is independent of N.
  const double nb = double(std::min<Index>(n, 256));
  const double model = 8.0 * (double(n) * n + nb * nb + nb * n + n + double(block) * n);
  EXPECT_EQ(double(be.stats().accumulate_bytes), model);
  EXPECT_LE(s.report.peak_rss_bytes - peak_small, 8L << 20)
      << "peak RSS grew from " << peak_small << " to " << s.report.peak_rss_bytes << " bytes with N";
  EXPECT_LE(s.report.peak_rss_bytes, cap) << "peak RSS above the cap";
#endif

  // Result: W' within bound (F) of backend_validation.hpp with N = 2^21: c_b = 4 (sqrt(N n) + n),
  // ||X|| = sqrt(k) ||B||, gap = sqrt(k) (s_r - s_{r+1}) of W R_B^T: kappa_r does not depend on k.
  const double u = 0x1p-53, N = double(copies_big * b0);
  const double c_b = 4.0 * (std::sqrt(N * n) + n);
  const double wn = Eigen::JacobiSVD<MatrixXd>(W).singularValues()(0), bn = Eigen::JacobiSVD<MatrixXd>(B).singularValues()(0);
  const double eta = c_b * u * wn * bn / (s_r - s_r1);
  ASSERT_LT(eta, 0.5);
  const double bound = std::sqrt(2.0 * r) * eta / (1 - eta) + c_b * u * std::sqrt(double(r));
  const double fwd = (s.A * s.B - Wstar).norm() / wn;
  EXPECT_LE(fwd, bound);
  std::printf("    2 GiB streamed: forward error %.3e (bound %.3e), peak RSS %.1f MiB (N/16 run: %.1f MiB), "
              "accumulate %.2f s\n", fwd, bound, s.report.peak_rss_bytes / 1048576.0, peak_small / 1048576.0,
              s.report.seconds.at("accumulate"));
}

}  // namespace
