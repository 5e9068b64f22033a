#pragma once
// The test ratios of MATH.md 1.4: how `lowrank check`, `lowrank corpus` and the tests judge a
// candidate A (m x r), B (r x n) against a reference solution. The scalings below are part of the
// project's contract (README, "Checking your implementation"); change them only with a new
// `ratio_version`.
//
// With u the candidate's unit roundoff (2^-24 float32, 2^-53 float64; the coarser of A's and B's),
// X_mu = [X, sqrt(mu) I] (paper orientation; X_mu = X when mu = 0), d = sqrt(max(m, n)):
//
//   objective ratio  = (f(A B) - f_*) / (u ||W||_2 ||X_mu||_2 d),
//                      f(W') = ||(W - W') X_mu||_F = sqrt(||(W - W')X||_F^2 + mu ||W - W'||_F^2)
//   forward ratio    = (||A B - W'_*||_F / ||W'_*||_F) / (u kappa d),
//                      kappa = (1 + ||W||_2 ||X_mu||_2 / gap) ||W||_F / ||W'_*||_F,
//                      gap = s_r - s_{r+1} of W X_mu (Wedin: a backward error eps ||W|| ||X|| moves
//                      the top-r subspace by <= 2 eps ||W|| ||X|| / gap, and W'_* = P W by that
//                      times ||W||_F plus ||dW||_F).
//   PASS iff shapes are right (A m x r' and B r' x n with r' <= r, hence rank(AB) <= r), every
//   entry is finite, objective ratio <= 30 and, where judged, forward ratio <= 30.
//
// The forward ratio is judged only where the minimizer is unique to the candidate's precision:
// the reference found s_r > s_{r+1}, X_mu is of full row rank with s_min(X_mu) > 30 d u ||X_mu||_2
// (otherwise a perturbation inside the tolerance makes the minimizer set a continuum), and the
// bound 30 d u kappa is below 1 (otherwise it guarantees no digit). Elsewhere only the objective
// is judged, and the result says so.
//
// Ratio version 2 (the default since 2026-12; `--ratio-version 1` keeps the above) changes the
// denominators, not the threshold (derivations in core/README.md, "Ratio version 2"):
//   objective: the backward error, in units of u d, that explains the excess. A stable method
//     solves the problem exactly for data with columnwise relative errors; its objective on the
//     true data satisfies f^2 - f_*^2 <= rho ||dM||_F^2 + ||dW X_mu||_F^2 (second order; rho =
//     (s_r^2 + s_{r+1}^2) / (s_r^2 - s_{r+1}^2)) and f - f_* <= 2 ||dM|| + ||dW X_mu|| (first order),
//     with ||dM||_F <= u (2 nu + s_1), ||dW X_mu||_F <= u nu, nu = sum_i ||w_i|| ||x_i^mu||. The
//     ratio is max(sqrt(f^2 - f_*^2) / (u d S2), (f - f_*) / (u d S1)), S2 = sqrt(rho (2 nu + s_1)^2
//     + nu^2), S1 = 5 nu + 2 s_1: the smallest backward error both bounds allow.
//   forward: kappa = min(Wedin's kappa above, the structured condition number of the reference
//     (ReferenceSolution::kappa_structured, when stored): the norm of the Frechet derivative of
//     (W, X) -> W'_* under that same perturbation model, over ||W'_*||_F).
// and adds a statistical verdict: a candidate that passes but is more than kSuspectFactor times
// less accurate than the project's own COALA at the candidate's precision on seeded backward
// perturbations of this very instance (fast/cpu achievable.hpp) is SUSPECT.
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {

constexpr int kRatioVersion = 2;      // the default; 1 is kept on request (CheckOptions)
constexpr double kRatioThreshold = 30.0;
constexpr double kSuspectFactor = 100.0;  // candidate error / median stable error above this: SUSPECT

enum class Verdict { pass, fail, suspect };
const char* verdict_name(Verdict v);  // "PASS", "FAIL", "SUSPECT"
// Exit codes of `lowrank check` / `lowrank corpus` for a verdict (2, 3, 4 are taken by refused
// input, breakdowns and I/O failures).
int verdict_exit_code(Verdict v);     // 0, 1, 5

struct CheckOptions {
  int ratio_version = kRatioVersion;  // 1 or 2
  double threshold = kRatioThreshold; // both ratios; also the "30" of the forward error's judged test
};

// The dimension factor d of both ratios.
double ratio_dimension_factor(Index m, Index n);

// What the checker needs from the reference solution of (W, X, r, mu).
struct ReferenceSolution {
  Index m = 0, n = 0, N = 0, rank = 0;
  double mu = 0.0;
  long double objective = 0;                  // f_* = ||(W - W'_*) X_mu||_F (from 40 digits)
  std::vector<long double> singular_values;   // s_i(W X_mu), descending (from 40 digits)
  bool unique = true;                         // the reference's verdict: s_r > s_{r+1}
  double norm_w_2 = 0, norm_w_fro = 0;        // ||W||_2, ||W||_F
  double norm_x_2 = 0, x_min = 0;             // s_1(X), s_n(X) (0 when N < n), paper orientation
  MatrixXd W_star;                            // W'_* = A_* B_*, rounded once to double
  int bits = 0;                               // reference precision
  // Structured forward condition number (ratio version 2): ||dW'_*||_F / (u ||W'_*||_F) to first
  // order, maximized over ||dW||_F <= u ||W||_F, ||dx_i|| <= u ||x_i|| per feature and
  // ||dM||_2 <= u ||W X_mu||_2 (core/README.md). 0 when the stored reference predates it.
  double kappa_structured = 0;
  long double gap() const;                    // s_r - s_{r+1} (s_0 = +inf, s_{k+1} = 0)
  double norm_xmu_2() const;                  // sqrt(s_1(X)^2 + mu)
  double xmu_min() const;                     // sqrt(s_n(X)^2 + mu)
};

// A candidate as read from disk; `error` is set (and A, B empty) when it could not be read:
// missing file, NaN/Inf, not 2-D, truncated, ...
struct CandidateFactors {
  MatrixXd A, B;
  Dtype dtype = Dtype::float64;  // the coarser of A's and B's
  std::string error;
};
CandidateFactors load_candidate(const std::string& a_path, const std::string& b_path);

// What check_candidate finds about a candidate's factors (named apart from proofs_checks::CheckResult,
// the outcome of one proof check).
struct CandidateCheck {
  // inputs echoed
  Index m = 0, n = 0, N = 0, rank = 0;
  double mu = 0.0;
  std::string dtype;      // candidate's
  double u = 0.0;         // candidate's unit roundoff
  double d = 1.0;         // dimension factor
  double threshold = kRatioThreshold;
  // elementary tests
  bool readable = true, shapes_ok = false, finite_ok = false, rank_ok = false;
  Index candidate_rank_bound = -1;  // r' (columns of A)
  // objective
  bool objective_computed = false;
  long double objective = 0, objective_ref = 0;
  double objective_excess = 0, objective_ratio = 0;
  bool objective_ok = false;
  // forward error
  bool forward_judged = false;
  std::string forward_note;  // why not judged (non-unique, rank-deficient X_mu, vacuous bound)
  double forward_error = 0, kappa = 0, forward_ratio = 0, gap = 0;
  bool forward_ok = true;
  int ratio_version = kRatioVersion;
  double nu = 0;             // sum_i ||w_i|| ||x_i^mu|| (version 2's scale)
  double kappa_wedin = 0;    // Wedin's kappa (version 1's); kappa is the one used
  double objective_ratio_v1 = 0, forward_ratio_v1 = 0;  // version 1's ratios, always reported
  // achievable accuracy (statistical, version 2): the candidate against the project's own stable
  // method at the candidate's precision on backward perturbations of this instance
  bool achievable_computed = false;
  std::string achievable_measure;    // "forward error" or "objective excess"
  double candidate_error = 0;        // the candidate's value of that measure
  double achievable_error = 0;       // median over the stable solves
  int achievable_samples = 0;
  double achievable_ratio = 0;       // candidate_error / max(achievable_error, floor)
  // verdict
  bool pass = false;                 // PASS (rigorous tests) and not SUSPECT
  Verdict verdict = Verdict::fail;
  std::vector<std::string> reasons;  // why FAIL (one per failed test) or SUSPECT
};

// What the stable method reached on the instance (fast/cpu achievable.hpp computes it).
struct AchievableAccuracy {
  int samples = 0;
  std::vector<double> forward_errors;      // ||AB - W'_*||_F / ||W'_*||_F per perturbation
  std::vector<double> objective_excesses;  // max(0, f(AB) - f_*) per perturbation
};
// Adds the achievable-accuracy comparison to a PASSing result; a candidate more than
// kSuspectFactor times less accurate than the median stable solve becomes SUSPECT. The measure is
// the forward error wherever W'_* is a point (unique cut, X_mu of full row rank at the reference's
// precision), floored at u; the objective excess elsewhere, floored at u (f_* + 1e-3 ||W|| ||X_mu||).
void apply_achievable(CandidateCheck& res, const ReferenceSolution& ref, const AchievableAccuracy& a);

// Judges a candidate. W and X are the problem's data (X streamed; N x n, one row per token).
// Never throws for a bad candidate (it becomes a FAIL with reasons); throws lowrank::Error only
// when W, X and the reference disagree with each other.
CandidateCheck check_candidate(const MatrixXd& W, RowBlockSource& X, const ReferenceSolution& ref,
                            const CandidateFactors& cand, const CheckOptions& opt = {});

nlohmann::json to_json(const CandidateCheck& r);
// Human-readable table, LAPACK/MAGMA style, ending with "PASS", "SUSPECT: reasons" or "FAIL: reasons".
std::string format_check(const CandidateCheck& r);

// Parses a decimal string (e.g. 40 significant digits) to long double; throws lowrank::Error.
long double parse_long_double(const std::string& s, const std::string& what);

}  // namespace lowrank
