#pragma once
// Shared pieces of the proof checks: seeded test matrices, the high-precision reference solve
// through the one driver, tables, CSV, log-log fits and gnuplot.
#include <cstdint>
#include <sstream>
#include <string>
#include <vector>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/proofs_checks/prove.hpp"
#include "lowrank/reference/backend.hpp"
#include "lowrank/reference/solve.hpp"

namespace lowrank::proofs_checks {

// ---------------------------------------------------------------- seeded test matrices
// The shared double-precision generator (lowrank/core/random.hpp): gaussian(m, n, rng),
// haar(m, k, rng), geometric(q, kappa), latms(N, n, s, rng) (X^T = U diag(s) V^T, MATH.md 1.5).
using Rng = SplitMixRng;

// One problem instance: W (m x n), X on disk convention (N x n, one row per token), rank r.
struct Problem {
  std::string name;
  MatrixXd W, X;
  Index r = 0;
  double mu = 0.0;  // only where a check says so (corpus cases of P_mu)
  Index m() const { return W.rows(); }
  Index n() const { return W.cols(); }
  Index N() const { return X.rows(); }
  Index dim() const { return std::max({m(), n(), N()}); }
};

// ---------------------------------------------------------------- the reference
using RefRun = ReferenceRun;  // the one reference solve (reference/solve.hpp)
// reference_solve of the problem at the current reference precision (the check's scope).
RefRun ref_solve(const Problem& p, Method method, double mu = 0.0, Index block_rows = 4096);
MatrixMP mp(const MatrixXd& m);
mpreal norm2(const MatrixMP& M);                 // spectral norm
ThinSvd<mpreal> mp_svd(const MatrixMP& M);
// f(W') = ||(W - W') X||_F computed directly from X (independently of the driver's R or G).
mpreal objective(const MatrixMP& W, const MatrixMP& Wp, const MatrixMP& Xpaper);
double unit_roundoff_bits(int bits);  // 2^-bits

// Sensitivities (MATH.md 1.4; README "Error model"): s = singular values of W X, r the cut.
struct Sensitivity {
  double norm_w2 = 0, norm_wf = 0, norm_x2 = 0, kappa_x = 0, gap = 0, gap2 = 0;
  double kappa_c() const { return norm_w2 * norm_x2 / gap; }                        // ||W|| ||X|| / (s_r - s_r+1)
  double kappa_g() const { return norm_w2 * norm_w2 * norm_x2 * norm_x2 / gap2; }   // ||W||^2 ||X||^2 / (s_r^2 - s_r+1^2)
};
// From a high-precision COALA run's report (singular values of W R^T and of X, already rounded to
// double: tolerances need no more) and double norms of W (exact data).
Sensitivity sensitivity(const Problem& p, const SolveReport& coala);
// pinv cuts the eigenvalues l_i = s_i(X)^2 of G below (d 2^-53)^2 l_max (driver.hpp); when it
// cuts, its projector Pi moves by u ||G|| / (l_rho - l_rho+1) (Davis-Kahan): this returns
// l_max / (l_rho - l_rho+1), or 0 when nothing is cut.
double pinv_cut_sensitivity(const Problem& p, const SolveReport& coala);
double norm2d(const MatrixXd& M);  // spectral norm in double (for tolerance scales)

// ---------------------------------------------------------------- reporting
std::string sci(double x, int digits = 2);
std::string fix(double x, int digits = 3);

class Table {
 public:
  explicit Table(std::vector<std::string> header) : header_(std::move(header)) {}
  void add(std::vector<std::string> row) { rows_.push_back(std::move(row)); }
  std::string str() const;
  std::string csv() const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<std::string>> rows_;
};

// What a check accumulates: printed text, files written, failures.
class CheckContext {
 public:
  CheckContext(const ProveOptions& opt, std::string name, std::string title);
  const ProveOptions& opt;
  std::ostringstream out;
  void table(const Table& t, const std::string& csv_name);  // prints, writes CSV
  void write(const std::string& file, const std::string& bytes);
  // Runs gnuplot on `script` (written as file.gp); output PNG named in the script.
  void plot(const std::string& gp_name, const std::string& script, const std::string& png_name);
  void expect(bool ok, const std::string& what);  // records a failure with its reason
  CheckResult finish();
  std::string path(const std::string& file) const;

 private:
  CheckResult res_;
  std::vector<std::string> failures_;
  int n_expect_ = 0;
};

// Least-squares slope of log10(y) against log10(x).
double loglog_slope(const std::vector<double>& x, const std::vector<double>& y);

// ---------------------------------------------------------------- the checks
CheckResult check_optimality(const ProveOptions& opt);
CheckResult check_equivalence(const ProveOptions& opt);
CheckResult check_nearest(const ProveOptions& opt);
CheckResult check_convergence(const ProveOptions& opt);
CheckResult check_streaming(const ProveOptions& opt);
CheckResult check_fp_model(const ProveOptions& opt);
CheckResult check_self_consistency(const ProveOptions& opt);

}  // namespace lowrank::proofs_checks
