#pragma once
// The problem a solver is asked, and what it reports (MATH.md 1.1 - 1.3).
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lowrank/core/matrix.hpp"

namespace lowrank {

enum class Method { coala, limit, svd_llm, svd_llm_v2, pinv, damped };
const char* method_name(Method m);
Method parse_method(const std::string& s);
const std::vector<std::string>& method_names();

// A solve's outcome: ok, or failed (a method that broke down on input it accepted: its report
// says why in `failure`, and it has no factors). report.json writes status_name().
enum class SolveStatus { ok, failed };
const char* status_name(SolveStatus s);  // "ok", "failed"

struct SolveOptions {
  Method method = Method::coala;
  Index rank = 0;          // r, 0 <= r <= min(m, n)
  double mu = 0.0;         // regularization, >= 0
  Index block_rows = 4096; // tokens per streamed block
  // Numerical-rank threshold, relative: a singular value counts when it exceeds rank_rtol times
  // the largest one. <= 0 (the default) derives every rank and uniqueness tolerance from the
  // data's storage rounding and the working precision's backward errors, none growing with N
  // (DecisionScale in driver.hpp; core/README.md).
  double rank_rtol = 0.0;
  // Called at the start of each long phase ("svd of W R^T, 512 x 512"): progress output.
  std::function<void(const std::string&)> on_phase;
};

// Everything a solver reports, already rounded for output. High-precision values are also kept
// as decimal strings (40 significant digits) so that reference results lose nothing.
struct SolveReport {
  std::string method, backend, precision;
  Index m = 0, n = 0, N = 0, rank = 0;
  double mu = 0.0;
  SolveStatus status = SolveStatus::ok;
  std::string failure;           // why, when failed
  bool ok() const { return status == SolveStatus::ok; }
  double objective = 0.0;        // ||(W - AB) X||_F
  std::string objective_decimal;
  double objective_mu = 0.0;     // sqrt(||(W - AB)X||^2 + mu ||W - AB||^2)
  double eckart_young_tail = 0.0;  // sqrt(sum_{i>r} s_i^2) of the method's own matrix
  std::string eckart_young_tail_decimal;
  std::vector<double> singular_values;            // s_i of W R^T (W R_mu^T; W S for Gram methods)
  std::vector<std::string> singular_values_decimal;
  double gap = 0.0;                                // s_r - s_{r+1}
  bool unique = true;
  double uniqueness_tol = 0.0;                     // unique iff gap > uniqueness_tol
  Index x_rank = 0;                                // numerical rank of X
  double x_rank_tol = 0.0;                         // absolute threshold on s_i(X)
  std::vector<double> x_singular_values;
  Index wx_rank = -1;                              // limit: k = rank(W X), -1 if not computed
  double wx_rank_tol = 0.0;
  double wx_s_k = 0.0, wx_s_k_plus_1 = 0.0;        // limit: s_k and s_{k+1} of W R^T (when wx_rank >= 0)
  std::optional<double> perp_gap;                  // limit, k < r: gap of (I - U_k U_k^T) W at r - k
  std::optional<double> fallback_shift;            // svd-llm: the shift its fallback added, when it fired
  std::optional<double> damping;                   // damped: the d of G + d mean(diag G) I that worked
  std::vector<std::string> notes;                  // fallbacks fired, damping used, ...
  std::map<std::string, double> seconds;           // per phase
  // The backend's own counters (cpu: GFLOP/s and seconds per LAPACK/BLAS kernel, bytes held while
  // accumulating; cuda: stream overlap, per-SVD checks). report.json's "extra" holds these and,
  // under the same names, the typed method fields above (perp_gap, wx_s_k, fallback_shift, ...).
  std::map<std::string, double> extra;
  // The BLAS under a cpu solve (empty for the other backends): its build, the kernel it chose for
  // this CPU, the threads. Together with the inputs they fix the bits of the factors.
  struct Blas {
    std::string config, kernel;
    int threads = 0;
  } blas;
  long peak_rss_bytes = 0;
};

// Peak resident memory of this process's address space so far, bytes: VmHWM of /proc/self/status
// (getrusage's ru_maxrss where /proc is missing). Not ru_maxrss first: Linux carries it across
// fork and exec, so `lowrank solve` started from a 300 MB Python process reported 300 MB whatever
// it used itself (found by `lowrank reproduce`'s streaming-memory section).
long peak_rss_bytes();

// A memory field of /proc/self/status in bytes ("VmHWM", "VmRSS", "VmSize", ...); -1 where the
// file or the field is missing. The one reader of that file (report, tests).
long proc_status_bytes(const std::string& field);

}  // namespace lowrank
