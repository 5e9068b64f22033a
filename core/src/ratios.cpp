#include "lowrank/core/ratios.hpp"

#include <Eigen/SVD>
#include <algorithm>
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <sstream>

#include "lowrank/core/error.hpp"
#include "lowrank/core/objective.hpp"

namespace lowrank {

// The candidate's objective is evaluated in long double. Its rounding error (Higham 3.5, with
// gamma_k = k u_ld / (1 - k u_ld)) is at most gamma_{r+n+2} ||W|| ||X_mu|| sqrt(min(m,n)) in
// absolute terms, i.e. (r + n + 2) sqrt(n) u_ld / (u d) <= 1e-3 of one unit of the objective ratio
// for a float64 candidate when n <= 1e3 (u_ld = 2^-64 on x86-64, 2^-113 on aarch64).
static_assert(LDBL_MANT_DIG >= 64, "the checker needs a long double with at least 64 significant bits");

using LMat = Mat<long double>;

const char* verdict_name(Verdict v) {
  switch (v) {
    case Verdict::pass: return "PASS";
    case Verdict::suspect: return "SUSPECT";
    case Verdict::fail: break;
  }
  return "FAIL";
}
int verdict_exit_code(Verdict v) { return v == Verdict::pass ? 0 : v == Verdict::suspect ? 5 : 1; }

double ratio_dimension_factor(Index m, Index n) { return std::sqrt(double(std::max<Index>({m, n, 1}))); }

long double ReferenceSolution::gap() const {
  const Index k = Index(singular_values.size());
  const long double s_r = rank >= 1 && rank <= k ? singular_values[rank - 1] : std::numeric_limits<long double>::infinity();
  const long double s_r1 = rank < k ? singular_values[rank] : 0.0L;
  return s_r - s_r1;
}
double ReferenceSolution::norm_xmu_2() const { return std::sqrt(norm_x_2 * norm_x_2 + mu); }
double ReferenceSolution::xmu_min() const { return std::sqrt(x_min * x_min + mu); }

long double parse_long_double(const std::string& s, const std::string& what) {
  errno = 0;
  char* end = nullptr;
  const long double v = std::strtold(s.c_str(), &end);
  if (s.empty() || errno != 0 || *end != '\0' || !std::isfinite(v))
    throw Error(what + ": not a finite decimal number: '" + s + "'");
  return v;
}

CandidateFactors load_candidate(const std::string& a_path, const std::string& b_path) {
  CandidateFactors c;
  try {
    const NpyMatrix a = read_npy(a_path, "candidate A");
    const NpyMatrix b = read_npy(b_path, "candidate B");
    if (a.header.shape.size() != 2)
      throw Error(a_path + ": candidate A must be 2-D (m x r), got " + std::to_string(a.header.shape.size()) + "-D");
    if (b.header.shape.size() != 2)
      throw Error(b_path + ": candidate B must be 2-D (r x n), got " + std::to_string(b.header.shape.size()) + "-D");
    c.A = a.values;
    c.B = b.values;
    c.dtype = (a.header.dtype == Dtype::float32 || b.header.dtype == Dtype::float32) ? Dtype::float32 : Dtype::float64;
  } catch (const Error& e) {
    c.error = e.what();
    c.A.resize(0, 0);
    c.B.resize(0, 0);
  }
  return c;
}

namespace {

std::string fmt_g(double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%g", x);
  return buf;
}

std::string fmt(double x, int prec = 3) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*e", prec, x);
  return buf;
}

// Ratio version 2 of the objective (ratios.hpp; core/README.md): the backward error, in units of
// u d, that the second-order and the first-order bound each need to explain f - f_*; the larger.
// The checker's own rounding in f(AB) (header of this file) is removed from the excess first: the
// square root of the second-order form would otherwise turn long double noise (1e-21 on an f of
// 1e-2) into a ratio of hundreds.
double objective_ratio_v2(const CandidateCheck& res, const ReferenceSolution& ref) {
  const long double u_ld = std::numeric_limits<long double>::epsilon() / 2;
  const double eval_error = double((ref.rank + ref.n + 2) * u_ld) * ref.norm_w_2 * ref.norm_xmu_2() *
                            std::sqrt(double(std::min(ref.m, ref.n)));
  const double excess = std::max(0.0, res.objective_excess - eval_error);
  if (excess == 0) return 0.0;
  const Index k = Index(ref.singular_values.size()), r = ref.rank;
  const double s1 = k > 0 ? double(ref.singular_values[0]) : 0.0;
  const double sr = (r >= 1 && r <= k) ? double(ref.singular_values[r - 1]) : 0.0;
  const double sr1 = r < k ? double(ref.singular_values[r]) : 0.0;
  const double dM = 2 * res.nu + s1;  // ||dM||_F / u
  const double rho = r == 0 || r >= k ? 1.0 : (sr > sr1 ? (sr * sr + sr1 * sr1) / ((sr - sr1) * (sr + sr1)) : INFINITY);
  const double S2 = std::sqrt(rho * dM * dM + res.nu * res.nu), S1 = 2 * dM + res.nu;
  const double f = double(res.objective_ref);
  const double t2 = std::isfinite(S2) && S2 > 0 ? std::sqrt(excess * (2 * f + excess)) / (res.u * res.d * S2) : 0.0;
  const double t1 = S1 > 0 ? excess / (res.u * res.d * S1) : INFINITY;
  return std::max(t1, t2);
}

}  // namespace

CandidateCheck check_candidate(const MatrixXd& W, RowBlockSource& X, const ReferenceSolution& ref,
                            const CandidateFactors& cand, const CheckOptions& opt) {
  if (opt.ratio_version != 1 && opt.ratio_version != 2)
    throw Error("ratio version " + std::to_string(opt.ratio_version) + " unknown (1 or 2)");
  CandidateCheck res;
  res.ratio_version = opt.ratio_version;
  if (!(opt.threshold > 0) || !std::isfinite(opt.threshold))
    throw Error("threshold must be a finite number > 0, got " + std::to_string(opt.threshold));
  res.threshold = opt.threshold;
  const Index m = W.rows(), n = W.cols(), r = ref.rank;
  if (X.cols() != n || ref.m != m || ref.n != n || ref.N != X.rows())
    throw Error("the reference (" + shape_str(ref.m, ref.n) + ", N = " + std::to_string(ref.N) +
                ") does not belong to W (" + shape_str(m, n) + ") and X (" + shape_str(X.rows(), X.cols()) + ")");
  if (ref.W_star.rows() != m || ref.W_star.cols() != n)
    throw Error("reference W'_* is " + shape_str(ref.W_star.rows(), ref.W_star.cols()) + ", expected " + shape_str(m, n));
  res.m = m; res.n = n; res.N = X.rows(); res.rank = r; res.mu = ref.mu;
  res.d = ratio_dimension_factor(m, n);
  res.dtype = dtype_name(cand.dtype);
  res.u = cand.dtype == Dtype::float32 ? 0x1p-24 : 0x1p-53;
  res.gap = double(ref.gap());

  if (!cand.error.empty()) {
    res.readable = false;
    res.reasons.push_back("candidate unreadable: " + cand.error);
    return res;
  }
  res.kappa_wedin = INFINITY;
  const MatrixXd& A = cand.A;
  const MatrixXd& B = cand.B;
  res.finite_ok = A.allFinite() && B.allFinite();  // load_candidate refuses NaN/Inf already
  res.candidate_rank_bound = A.cols();
  res.shapes_ok = A.rows() == m && B.cols() == n && A.cols() == B.rows();
  if (!res.shapes_ok) {
    res.reasons.push_back("wrong shape: A is " + shape_str(A.rows(), A.cols()) + " and B is " +
                          shape_str(B.rows(), B.cols()) + "; expected A " + shape_str(m, r) + " and B " +
                          shape_str(r, n) + " (A m x r, B r x n, W' = A B)");
    return res;
  }
  res.rank_ok = A.cols() <= r;
  if (!res.rank_ok) {
    const MatrixXd AB = A * B;
    Eigen::JacobiSVD<MatrixXd> sv(AB);
    const auto& s = sv.singularValues();
    const double rel = (s.size() > r && s(0) > 0) ? s(r) / s(0) : 0.0;
    res.reasons.push_back("rank above r: A B has inner dimension " + std::to_string(A.cols()) + " > r = " +
                          std::to_string(r) + " (s_{r+1}(AB)/s_1(AB) = " + fmt(rel) + ")");
  }
  if (!res.finite_ok) res.reasons.push_back("candidate has NaN or Inf entries");
  if (!res.rank_ok || !res.finite_ok) return res;

  // Objective in long double: E = W - A B, f^2 = sum over token blocks ||E X_i^T||^2 + mu ||E||^2.
  const LMat E = W.cast<long double>() - A.cast<long double>() * B.cast<long double>();
  // The same pass gathers the feature norms ||x_i||^2 for version 2's nu.
  Eigen::VectorXd feature2 = Eigen::VectorXd::Zero(n);
  const long double f2 = objective_squared(E, X, ref.mu, [&](const LMat& block) {
    feature2 += block.cast<double>().colwise().squaredNorm().transpose();  // exact: X's values are doubles
  });
  for (Index i = 0; i < n; ++i) res.nu += W.col(i).norm() * std::sqrt(feature2(i) + ref.mu);
  res.objective_computed = true;
  res.objective = std::sqrt(f2);
  res.objective_ref = ref.objective;
  res.objective_excess = double(res.objective - ref.objective);
  const double obj_scale = res.u * ref.norm_w_2 * ref.norm_xmu_2() * res.d;
  res.objective_ratio_v1 = obj_scale > 0 ? res.objective_excess / obj_scale : (res.objective_excess > 0 ? INFINITY : 0.0);
  res.objective_ratio = opt.ratio_version == 1 ? res.objective_ratio_v1 : objective_ratio_v2(res, ref);
  res.objective_ok = res.objective_ratio <= res.threshold;
  if (!res.objective_ok)
    res.reasons.push_back("objective ratio " + fmt(res.objective_ratio, 2) + " > " + fmt_g(res.threshold) +
                          ": f(AB) = " + fmt(double(res.objective), 6) + " exceeds the optimum f_* = " +
                          fmt(double(ref.objective), 6) + " by " + fmt(res.objective_excess, 2));

  // Forward error against W'_*, judged only where the minimizer is unique to precision u.
  const long double wstar_norm = ref.W_star.cast<long double>().norm();
  const LMat D = A.cast<long double>() * B.cast<long double>() - ref.W_star.cast<long double>();
  const long double dnorm = D.norm();
  res.forward_error = wstar_norm > 0 ? double(dnorm / wstar_norm) : double(dnorm);
  const double gap = res.gap;
  const double nw = ref.norm_w_2 * ref.norm_xmu_2();
  res.kappa_wedin = (gap > 0 && wstar_norm > 0) ? (1.0 + nw / gap) * ref.norm_w_fro / double(wstar_norm) : INFINITY;
  res.kappa = res.kappa_wedin;
  if (opt.ratio_version >= 2 && ref.kappa_structured > 0) res.kappa = std::min(res.kappa, ref.kappa_structured);
  const double tol_rank = res.threshold * res.d * res.u * ref.norm_xmu_2();
  if (r == 0) {
    res.forward_note = "r = 0: W'_* = 0, nothing to compare beyond the shapes and the objective";
  } else if (!ref.unique || !(gap > 0)) {
    res.forward_note = "minimizer not unique (s_r = s_{r+1} to the reference's precision, gap " + fmt(gap) +
                       "): forward error not judged, objective only";
  } else if (!(ref.xmu_min() > tol_rank)) {
    res.forward_note = "X_mu is rank deficient to the candidate's precision (s_min(X_mu) = " + fmt(ref.xmu_min()) +
                       " <= 30 d u ||X_mu||_2 = " + fmt(tol_rank) +
                       "): the minimizer is not unique within the tolerance; forward error not judged, objective only";
  } else if (!(res.threshold * res.d * res.u * res.kappa < 1)) {
    res.forward_note = "sensitivity too large for precision u (30 d u kappa = " + fmt(res.threshold * res.d * res.u * res.kappa) +
                       " >= 1: no correct digit is guaranteed); forward error not judged, objective only";
  } else {
    res.forward_judged = true;
  }
  res.forward_ratio = res.forward_error / (res.u * res.kappa * res.d);
  res.forward_ratio_v1 = res.forward_error / (res.u * res.kappa_wedin * res.d);
  if (res.forward_judged) {
    res.forward_ok = res.forward_ratio <= res.threshold;
    if (!res.forward_ok)
      res.reasons.push_back("forward ratio " + fmt(res.forward_ratio, 2) + " > " + fmt_g(res.threshold) +
                            ": ||AB - W'_*||_F/||W'_*||_F = " + fmt(res.forward_error, 2) + " against u kappa d = " +
                            fmt(res.u * res.kappa * res.d, 2));
  }
  res.verdict = res.reasons.empty() ? Verdict::pass : Verdict::fail;
  res.pass = res.verdict == Verdict::pass;
  return res;
}

void apply_achievable(CandidateCheck& res, const ReferenceSolution& ref, const AchievableAccuracy& a) {
  if (res.verdict != Verdict::pass || a.samples == 0 || !res.objective_computed) return;
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t k = v.size();
    return k == 0 ? 0.0 : (k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]));
  };
  res.achievable_computed = true;
  res.achievable_samples = a.samples;
  // The forward error is the measure wherever W'_* is a point: the reference found the cut unique
  // and X_mu of full row rank beyond its own rounding. That includes instances where the rigorous
  // forward test is not judged at the candidate's precision (cond(X) near 1/u): there the stable
  // solves themselves show how well W'_* is determined. Elsewhere (a continuum of minimizers) the
  // objective excess is compared.
  const bool point = ref.unique && ref.rank > 0 && ref.xmu_min() > 1e-30 * ref.norm_xmu_2() &&
                     res.forward_error == res.forward_error;
  double floor = 0;
  if (point) {
    res.achievable_measure = "forward error";
    res.candidate_error = res.forward_error;
    res.achievable_error = median(a.forward_errors);
    floor = res.u;  // no relative error below u is meaningful at the candidate's precision
  } else {
    res.achievable_measure = "objective excess";
    res.candidate_error = std::max(0.0, res.objective_excess);
    res.achievable_error = median(a.objective_excesses);
    floor = res.u * (double(ref.objective) + 1e-3 * ref.norm_w_2 * ref.norm_xmu_2());
  }
  const double denom = std::max(res.achievable_error, floor);
  res.achievable_ratio = denom > 0 ? res.candidate_error / denom : 0.0;
  if (res.achievable_ratio > kSuspectFactor) {
    res.verdict = Verdict::suspect;
    res.pass = false;
    res.reasons.push_back("within the worst-case bound, but " + fmt(res.achievable_ratio, 1) + "x less accurate (" +
                          res.achievable_measure + " " + fmt(res.candidate_error, 2) + ") than a stable " + res.dtype +
                          " method on this instance (median " + fmt(res.achievable_error, 2) + " over " +
                          std::to_string(a.samples) + " backward perturbations)");
  }
}

nlohmann::json to_json(const CandidateCheck& r) {
  nlohmann::json j;
  j["verdict"] = verdict_name(r.verdict);
  j["reasons"] = r.reasons;
  j["ratio_version"] = r.ratio_version;
  j["threshold"] = r.threshold;
  j["problem"] = {{"m", r.m}, {"n", r.n}, {"N", r.N}, {"rank", r.rank}, {"mu", r.mu}};
  j["candidate"] = {{"dtype", r.dtype}, {"u", r.u}, {"readable", r.readable}, {"inner_dim", r.candidate_rank_bound}};
  j["d"] = r.d;
  j["tests"] = {{"shapes", r.shapes_ok}, {"finite", r.finite_ok}, {"rank_le_r", r.rank_ok}};
  auto num = [](double x) -> nlohmann::json { return std::isfinite(x) ? nlohmann::json(x) : nlohmann::json(nullptr); };
  if (r.objective_computed) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.21Le", r.objective);
    j["objective"] = {{"ratio", num(r.objective_ratio)}, {"ok", r.objective_ok}, {"value", buf},
                      {"excess", num(r.objective_excess)}, {"ratio_v1", num(r.objective_ratio_v1)}};
    std::snprintf(buf, sizeof buf, "%.21Le", r.objective_ref);
    j["objective"]["reference"] = buf;
    j["forward"] = {{"judged", r.forward_judged}, {"ratio", num(r.forward_ratio)}, {"ok", r.forward_ok},
                    {"relative_error", num(r.forward_error)}, {"kappa", num(r.kappa)},
                    {"kappa_wedin", num(r.kappa_wedin)}, {"ratio_v1", num(r.forward_ratio_v1)}, {"gap", num(r.gap)},
                    {"note", r.forward_note}};
    j["nu"] = num(r.nu);
  }
  if (r.achievable_computed) {
    j["achievable"] = {{"measure", r.achievable_measure}, {"candidate", num(r.candidate_error)},
                       {"median_stable", num(r.achievable_error)}, {"samples", r.achievable_samples},
                       {"ratio", num(r.achievable_ratio)}, {"suspect_factor", kSuspectFactor},
                       {"statistical", true}};
  }
  return j;
}

std::string format_check(const CandidateCheck& r) {
  std::ostringstream o;
  o << "  problem: W " << shape_str(r.m, r.n) << ", X " << shape_str(r.N, r.n) << " (N x n), r = " << r.rank
    << ", mu = " << r.mu << "\n";
  o << "  candidate: " << r.dtype << " (u = " << fmt(r.u, 2) << "), d = sqrt(max(m, n)) = " << fmt(r.d, 2)
    << ", threshold " << r.threshold << ", ratio version " << r.ratio_version << "\n";
  char line[512];
  std::snprintf(line, sizeof line, "  %-24s %-12s %-10s %s\n", "test", "ratio", "threshold", "result");
  o << line;
  if (!r.readable) {
    o << "  candidate could not be read\n";
  } else {
    std::snprintf(line, sizeof line, "  %-24s %-12s %-10s %s\n", "shapes", "", "",
                  r.shapes_ok ? "ok" : "FAILED");
    o << line;
    if (r.shapes_ok) {
      std::snprintf(line, sizeof line, "  %-24s %-12s %-10s %s\n", "finite", "", "", r.finite_ok ? "ok" : "FAILED");
      o << line;
      std::snprintf(line, sizeof line, "  %-24s %-12s %-10s %s (inner dimension %ld, r = %ld)\n", "rank(A B) <= r", "", "",
                    r.rank_ok ? "ok" : "FAILED", long(r.candidate_rank_bound), long(r.rank));
      o << line;
    }
    if (r.objective_computed) {
      std::snprintf(line, sizeof line, "  %-24s %-12s %-10.0f %s (f = %.9Le, f_* = %.9Le)\n", "objective excess",
                    fmt(r.objective_ratio, 2).c_str(), r.threshold, r.objective_ok ? "ok" : "FAILED", r.objective,
                    r.objective_ref);
      o << line;
      if (r.forward_judged) {
        std::snprintf(line, sizeof line, "  %-24s %-12s %-10.0f %s (||AB - W'_*||/||W'_*|| = %s, kappa = %s)\n",
                      "forward error", fmt(r.forward_ratio, 2).c_str(), r.threshold, r.forward_ok ? "ok" : "FAILED",
                      fmt(r.forward_error, 2).c_str(), fmt(r.kappa, 2).c_str());
      } else {
        std::snprintf(line, sizeof line, "  %-24s %-12s %-10s %s (||AB - W'_*||/||W'_*|| = %s)\n", "forward error",
                      "-", "-", "not judged", fmt(r.forward_error, 2).c_str());
      }
      o << line;
      if (!r.forward_judged) o << "    note: " << r.forward_note << "\n";
    }
    if (r.achievable_computed) {
      std::snprintf(line, sizeof line, "  %-24s %-12s %-10.0f %s (%s %s; stable %s median %s over %d perturbations)\n",
                    "achievable accuracy", fmt(r.achievable_ratio, 2).c_str(), kSuspectFactor,
                    r.verdict == Verdict::suspect ? "SUSPECT" : "ok", r.achievable_measure.c_str(),
                    fmt(r.candidate_error, 2).c_str(), r.dtype.c_str(), fmt(r.achievable_error, 2).c_str(),
                    r.achievable_samples);
      o << line;
    }
  }
  if (r.verdict == Verdict::pass) {
    o << "PASS\n";
  } else {
    o << verdict_name(r.verdict);
    for (const auto& why : r.reasons) o << "\n  - " << why;
    o << "\n";
  }
  return o.str();
}

}  // namespace lowrank
