#include "common.hpp"

#include <Eigen/QR>
#include <Eigen/SVD>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iomanip>

#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/objective.hpp"

namespace lowrank::proofs_checks {

// ---------------------------------------------------------------- reference
MatrixMP mp(const MatrixXd& m) { return m.cast<mpreal>(); }

ThinSvd<mpreal> mp_svd(const MatrixMP& M) {
  ReferenceBackend be;
  return be.svd(M);
}

mpreal norm2(const MatrixMP& M) {
  if (M.size() == 0) return mpreal(0);
  const ThinSvd<mpreal> s = mp_svd(M);
  return s.s.size() ? s.s(0) : mpreal(0);
}

mpreal objective(const MatrixMP& W, const MatrixMP& Wp, const MatrixMP& Xpaper) {
  return sqrt(objective_squared(MatrixMP(W - Wp), MatrixMP(Xpaper.transpose())));
}

double unit_roundoff_bits(int bits) { return std::ldexp(1.0, -bits); }

RefRun ref_solve(const Problem& p, Method method, double mu, Index block_rows) {
  MatrixRowSource X(p.X, 0x1p-53, p.name);
  SolveOptions o;
  o.method = method;
  o.rank = p.r;
  o.mu = mu;
  o.block_rows = block_rows;
  return reference_solve(p.W, X, o, reference_bits());
}

double norm2d(const MatrixXd& M) {
  if (M.size() == 0) return 0.0;
  Eigen::JacobiSVD<MatrixXd> svd(M);
  return svd.singularValues()(0);
}

Sensitivity sensitivity(const Problem& p, const SolveReport& coala) {
  Sensitivity s;
  s.norm_w2 = norm2d(p.W);
  s.norm_wf = p.W.norm();
  const auto& x = coala.x_singular_values;
  s.norm_x2 = x.front();
  s.kappa_x = x.back() > 0 ? x.front() / x.back() : INFINITY;
  const auto& sv = coala.singular_values;
  const Index r = p.r, k = Index(sv.size());
  const double sr = (r >= 1 && r <= k) ? sv[r - 1] : 0.0, sr1 = r < k ? sv[r] : 0.0;
  s.gap = sr - sr1;
  s.gap2 = (sr - sr1) * (sr + sr1);
  return s;
}

double pinv_cut_sensitivity(const Problem& p, const SolveReport& coala) {
  const auto& x = coala.x_singular_values;
  std::vector<double> l(p.n(), 0.0);
  for (Index i = 0; i < p.n() && i < Index(x.size()); ++i) l[i] = x[i] * x[i];
  const double rtol = double(p.dim()) * 0x1p-53;
  const double ltol = rtol * rtol * l[0];
  Index rho = 0;
  while (rho < p.n() && l[rho] > ltol) ++rho;
  if (rho == p.n() || rho == 0) return 0.0;
  return l[0] / (l[rho - 1] - l[rho]);
}

// ---------------------------------------------------------------- reporting
std::string sci(double x, int digits) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  char b[64];
  std::snprintf(b, sizeof b, "%.*e", digits, x);
  return b;
}
std::string fix(double x, int digits) {
  if (!std::isfinite(x)) return sci(x);
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", digits, x);
  return b;
}

std::string Table::str() const {
  std::vector<std::size_t> w(header_.size(), 0);
  for (std::size_t j = 0; j < header_.size(); ++j) w[j] = header_[j].size();
  for (const auto& r : rows_)
    for (std::size_t j = 0; j < r.size() && j < w.size(); ++j) w[j] = std::max(w[j], r[j].size());
  std::ostringstream o;
  auto line = [&](const std::vector<std::string>& r) {
    o << " ";
    for (std::size_t j = 0; j < w.size(); ++j)
      o << " " << std::setw(int(w[j])) << (j < r.size() ? r[j] : std::string()) << (j + 1 < w.size() ? " |" : "");
    o << "\n";
  };
  line(header_);
  o << "  ";
  for (std::size_t j = 0; j < w.size(); ++j) o << std::string(w[j] + 2, '-') << (j + 1 < w.size() ? "+" : "");
  o << "\n";
  for (const auto& r : rows_) line(r);
  return o.str();
}

std::string Table::csv() const {
  std::ostringstream o;
  auto line = [&](const std::vector<std::string>& r) {
    for (std::size_t j = 0; j < r.size(); ++j) {
      const bool q = r[j].find_first_of(",\"") != std::string::npos;
      o << (j ? "," : "") << (q ? "\"" : "") << r[j] << (q ? "\"" : "");
    }
    o << "\n";
  };
  line(header_);
  for (const auto& r : rows_) line(r);
  return o.str();
}

CheckContext::CheckContext(const ProveOptions& o, std::string name, std::string title) : opt(o) {
  res_.name = std::move(name);
  res_.title = std::move(title);
  std::filesystem::create_directories(opt.out);
  out << "== check " << res_.name << ": " << res_.title << "\n";
}

std::string CheckContext::path(const std::string& file) const { return opt.out + "/" + file; }

void CheckContext::write(const std::string& file, const std::string& bytes) {
  write_file_atomic(path(file), bytes);
  res_.files.push_back(file);
}

void CheckContext::table(const Table& t, const std::string& csv_name) {
  out << t.str();
  write(csv_name, t.csv());
}

void CheckContext::plot(const std::string& gp_name, const std::string& script, const std::string& png_name) {
  write(gp_name, script);
  // gnuplot writes the PNG under a temporary name (set in the script as the literal
  // "PNGTMP"), renamed when complete: never a partial image.
  const std::string tmp = png_name + ".tmp.png";
  std::string s = script;
  for (std::size_t pos; (pos = s.find("PNGTMP")) != std::string::npos;) s.replace(pos, 6, tmp);
  const std::string run_gp = gp_name + ".run";
  write_file_atomic(path(run_gp), s);
  const std::string cmd = "cd '" + opt.out + "' && gnuplot '" + run_gp + "' > /dev/null 2>&1";
  const int rc = std::system(cmd.c_str());
  std::filesystem::remove(path(run_gp));
  if (rc != 0 || !std::filesystem::exists(path(tmp))) {
    std::filesystem::remove(path(tmp));
    out << "  (plot " << png_name << " not written: gnuplot failed or is missing; the script is " << gp_name << ")\n";
    return;
  }
  std::filesystem::rename(path(tmp), path(png_name));
  res_.files.push_back(png_name);
}

void CheckContext::expect(bool ok, const std::string& what) {
  ++n_expect_;
  if (!ok) failures_.push_back(what);
}

CheckResult CheckContext::finish() {
  res_.passed = failures_.empty() && n_expect_ > 0;
  if (n_expect_ == 0) failures_.push_back("nothing was checked");
  for (const auto& f : failures_) out << "  FAILED: " << f << "\n";
  out << "-- " << res_.name << ": " << (res_.passed ? "PASS" : "FAIL") << " (" << n_expect_ - int(failures_.size())
      << "/" << n_expect_ << " assertions hold)\n";
  res_.text = out.str();
  return res_;
}

double loglog_slope(const std::vector<double>& x, const std::vector<double>& y) {
  const std::size_t n = x.size();
  if (n < 2) return NAN;
  double mx = 0, my = 0;
  for (std::size_t i = 0; i < n; ++i) mx += std::log10(x[i]), my += std::log10(y[i]);
  mx /= n, my /= n;
  double sxy = 0, sxx = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const double dx = std::log10(x[i]) - mx;
    sxy += dx * (std::log10(y[i]) - my);
    sxx += dx * dx;
  }
  return sxy / sxx;
}

}  // namespace lowrank::proofs_checks
