#pragma once
// The one driver for every method of MATH.md 1.1-1.3, over a linear-algebra backend.
//
// The backends' operations are declared and checked in backend.hpp (check_solve_backend).
// Every product of the methods and of the report (W R^T, A^T W, W L, E R^T, E G, ...) goes
// through the backend's gemm, so it runs where the backend runs (OpenBLAS, threaded; cuBLAS;
// MPFR), and so does every O(m n) step (scalings, norms, copies of leading columns: the seam's
// small operations). The driver holds the backend's matrices (matrix_t<Backend>: Mat<T> on the
// host, device matrices on CUDA) from the upload of W to the download of A and B; what it
// computes itself is O(n) work on vectors (singular values, tolerances). Two tests prove it:
// tests/cpu/product_count_test.cpp (a backend over a scalar that counts its multiplications sees
// no O(m n^2) product outside the backend's operations) and its DeviceResident tests (a backend
// whose matrices have no element access: every method runs, and only W goes up and
// only A, B and O(n) vectors come down).
// stream_r / stream_gram below are the shared blocked loops a backend may use for accumulate_r /
// accumulate_gram.
//
// solve() = validate_problem + accumulate (the one pass over X) + solve_accumulated (everything
// after it: x_rank_step, one function per method family -- coala_factors (coala, limit),
// cholesky_factors (svd-llm, damped), svd_llm_v2_factors, pinv_factors -- and report_step). A
// distributed run (distributed/) replaces only the middle: the ranks' factors are combined into
// one Accumulated, and rank 0 calls solve_accumulated like a single process.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lowrank/core/backend.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/host_matrix.hpp"
#include "lowrank/core/matrix.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/core/scalar.hpp"
#include "lowrank/core/solution.hpp"

namespace lowrank {

// R of a stream of token blocks: R_i = qr_R([R_{i-1}; X_i^T]) (TSQR, MATH.md 1.1), padded with
// zero rows to n x n when fewer than n tokens were seen (R^T R = X X^T still holds).
template <class Backend>
Mat<typename Backend::Scalar> stream_r(Backend& be, RowBlockSource& X, Index block_rows) {
  using T = typename Backend::Scalar;
  const Index n = X.cols();
  Mat<T> R(0, n), block;
  BlockReader<T> blocks(X, block_rows);
  while (blocks.next(block)) R = be.stack_r(R, block);
  if (R.rows() < n) {
    Mat<T> padded = Mat<T>::Zero(n, n);
    padded.topRows(R.rows()) = R;
    R = std::move(padded);
  }
  return R;
}

// G = X X^T = sum_i X_i X_i^T, accumulated block by block in the working precision, as the
// Gram-based methods do.
template <class Backend>
Mat<typename Backend::Scalar> stream_gram(Backend& be, RowBlockSource& X, Index block_rows) {
  using T = typename Backend::Scalar;
  const Index n = X.cols();
  Mat<T> G = Mat<T>::Zero(n, n), b;
  BlockReader<T> blocks(X, block_rows);
  while (blocks.next(b)) be.gemm(true, false, T(1), b, b, T(1), G);  // G += b^T b
  return G;
}

namespace detail {

// M: the backend's matrix, or a host one (the trainer's; every backend with the value-only
// routines has them on host matrices too).
template <class Backend, class Matrix>
Vec<typename Backend::Scalar> singular_values(Backend& be, const Matrix& M) {
  if constexpr (has_singular_values_v<Backend>) return be.singular_values(M);
  else return be.svd(M).s;
}
template <class Backend, class Matrix>
Vec<typename Backend::Scalar> eigenvalues(Backend& be, const Matrix& G) {
  if constexpr (has_eigenvalues_v<Backend>) return be.eigenvalues(G);
  else return be.eigh(G).values;
}

class Stopwatch {
 public:
  Stopwatch() : t0_(std::chrono::steady_clock::now()) {}
  double lap() {
    const auto t = std::chrono::steady_clock::now();
    const double s = std::chrono::duration<double>(t - t0_).count();
    t0_ = t;
    return s;
  }

 private:
  std::chrono::steady_clock::time_point t0_;
};

// op(A) op(B) by the backend's gemm, in the backend's matrix type.
template <class Backend, class M = matrix_t<Backend>>
M product(Backend& be, const M& A, bool trans_a, const M& B, bool trans_b) {
  M C;
  be.gemm(trans_a, trans_b, typename Backend::Scalar(1), A, B, typename Backend::Scalar(0), C);
  return C;
}

// A backend matrix brought to the host: moved for a host backend, downloaded otherwise.
template <class Backend, class M = matrix_t<Backend>> Mat<typename Backend::Scalar> to_host(Backend& be, M&& A) {
  if constexpr (host_resident_v<Backend>) return std::move(A);
  else return be.download(A);
}

template <class T> Vec<T> descending(Vec<T> v) {
  std::sort(v.data(), v.data() + v.size(), [](const T& a, const T& b) { return a > b; });
  return v;
}

}  // namespace detail

// Tolerances of the numerical-rank and uniqueness decisions, from the errors really present
// (derivation: core/README.md, "Rank and uniqueness decisions"). u_data is the storage unit
// roundoff of the data, u_work the working precision's; x_i is feature i of X (column i of the
// N x n file, ||x_i|| = ||R(:, i)|| = sqrt(G_ii)), w_i column i of W, and
//     nu = sum_i ||w_i|| ||x_i||   (>= ||W X||_F, and = s_1(W X) when one outlier feature dominates).
// Every error below is relative per feature (columnwise), which is what storage rounding and
// Householder QR commit, so an outlier channel does not pollute the other directions:
//   storage: |dX| <= u_data |X| and |dW| <= u_data |W| entrywise, so ||dX||_2 <= u_data ||X||_F
//     and ||dW X + W dX||_F <= 2 u_data nu;
//   QR / TSQR in the working precision: R is the exact factor of X + dX with
//     ||dx_i|| <= n u_work ||x_i|| (Higham, Thm 19.4, columnwise; n reflectors touch each column,
//     the inner-product length factor taken as LAPACK's rank-decision convention), so
//     ||dX||_F <= n u_work ||X||_F and ||W dX||_F <= n u_work nu;
//   forming W R^T: |dM| <= n u_work |W| |R^T|, ||dM||_F <= n u_work nu; the SVD of M is normwise
//     backward stable: ||dM||_2 <= n u_work s_1(M).
// None grows with the number of tokens N. The Gram path is the exception: G = X X^T summed over N
// tokens in the working precision has |dG_ij| <= (sqrt(N) + n) u_work ||x_i|| ||x_j|| (the
// probabilistic bound of Higham & Mary 2019 for the sum; N u_work worst case), so it is charged
// sqrt((sqrt(N) + n) u_work) ||X||_F on the singular values of X and (sqrt(N) + n) u_work nu^2 on
// the squares s_i(W X)^2: the squaring of the condition number, made visible in the tolerances.
// rank_rtol > 0 (--rank-rtol) replaces all of them by rank_rtol times the largest value.
struct DecisionScale {
  double u_data = 0x1p-53, u_work = 0x1p-53, rank_rtol = 0;
  bool user() const { return rank_rtol > 0; }
  double gram_factor(Index n, Index N) const { return (std::sqrt(double(N)) + double(n)) * u_work; }
  // Singular values of X above this count (x_2 = s_1(X)).
  double x_rank_tol(Index n, double x_fro, double x_2) const {
    if (user()) return rank_rtol * x_2;
    return (u_data + double(n) * u_work) * x_fro;
  }
  double x_rank_tol_gram(Index n, Index N, double x_fro, double x_2) const {
    if (user()) return rank_rtol * x_2;
    return u_data * x_fro + std::sqrt(gram_factor(n, N)) * x_fro;
  }
  // How far each singular value of W X (W X_mu) can move; s_1 = s_1(W X).
  double wx_sv_tol(Index n, double nu, double s_1) const {
    if (user()) return rank_rtol * s_1;
    return 2 * (u_data + double(n) * u_work) * nu + double(n) * u_work * s_1;
  }
  // The cut at r is resolved when the gap s_r - s_{r+1} exceeds this. Gram path: s_r^2 and
  // s_{r+1}^2 each move by (sqrt(N) + n) u_work nu^2, i.e. the gap needs
  // 2 (sqrt(N) + n) u_work nu^2 / (s_r + s_{r+1}) on top of the data's and the SVD's share.
  double uniqueness_tol(Index n, double nu, double s_1) const {
    return 2 * wx_sv_tol(n, nu, s_1);
  }
  double uniqueness_tol_gram(Index n, Index N, double nu, double s_1, double s_r, double s_r1) const {
    if (user()) return 2 * rank_rtol * s_1;
    const double sum = s_r + s_r1;
    const double acc = sum > 0 ? 2 * gram_factor(n, N) * nu * nu / sum : INFINITY;
    return 2 * (2 * u_data * nu + double(n) * u_work * s_1) + acc;
  }
};

// What a solve returns: factors in the working precision and the report.
template <class T> struct Solution {
  Mat<T> A;  // m x r
  Mat<T> B;  // r x n
  T objective{0};
  Vec<T> singular_values;
  SolveReport report;
};

// Checks the arguments of a solve against the data; throws Error naming what is wrong.
inline void validate_problem(Index m, Index n, const RowBlockSource& X, const SolveOptions& opt) {
  if (X.cols() != n)
    throw Error("shape mismatch: W is " + shape_str(m, n) + " (out x in) but X (" + X.name() +
                ") is " + shape_str(X.rows(), X.cols()) + "; X must be N x " + std::to_string(n) +
                " (one row per token)");
  if (m == 0 || n == 0) throw Error("W is empty (" + shape_str(m, n) + ")");
  if (X.rows() == 0)
    throw Error("X (" + X.name() + ") has no tokens (0 x " + std::to_string(n) + "): nothing to fit to");
  if (opt.rank < 0 || opt.rank > std::min(m, n))
    throw Error("rank " + std::to_string(opt.rank) + " out of range: need 0 <= r <= min(m, n) = " +
                std::to_string(std::min(m, n)));
  if (!(opt.mu >= 0.0) || !std::isfinite(opt.mu))
    throw Error("mu must be a finite number >= 0, got " + std::to_string(opt.mu));
  if (opt.block_rows < 1) throw Error("block must be at least 1 row, got " + std::to_string(opt.block_rows));
  if (opt.method == Method::limit && opt.mu != 0.0)
    throw Error("--method limit computes the mu -> 0 limit directly; it takes no --mu");
}

// The methods that start from the Gram matrix G = X X^T; the others start from R = qr_R(X^T).
inline bool is_gram_method(Method m) {
  return m == Method::svd_llm || m == Method::svd_llm_v2 || m == Method::pinv || m == Method::damped;
}

// What one pass over X leaves for the rest of a solve: R (n x n, R^T R = X X^T) for the QR
// methods, G = X X^T for the Gram methods, with the facts about X the decisions need, in the
// backend's matrix type M (on the device for CUDA). A distributed run (distributed/) builds it on
// the host from the ranks' shards and hands it to solve_accumulated, so both paths finish in the
// same code.
template <class T, class M = Mat<T>> struct Accumulated {
  M R, G;                    // the one the method needs
  Index N = 0;               // tokens seen
  double u_data = 0x1p-53;   // unit roundoff of the stored data (the coarsest shard's)
  double seconds = 0;        // wall time of the pass
};

// One pass over X: R by streaming TSQR, or G, whichever opt.method needs.
template <class Backend>
Accumulated<typename Backend::Scalar, matrix_t<Backend>> accumulate(Backend& be, RowBlockSource& X,
                                                                   const SolveOptions& opt) {
  static_assert(check_solve_backend<Backend>());
  Accumulated<typename Backend::Scalar, matrix_t<Backend>> acc;
  detail::Stopwatch clock;
  check_interrupted();
  if (opt.on_phase) opt.on_phase(is_gram_method(opt.method) ? "streaming X: Gram matrix X X^T" : "streaming X: R of the TSQR");
  if (is_gram_method(opt.method)) acc.G = be.accumulate_gram(X, opt.block_rows);
  else acc.R = be.accumulate_r(X, opt.block_rows);
  acc.seconds = clock.lap();
  acc.N = X.rows();
  acc.u_data = X.data_unit_roundoff();
  return acc;
}

// The same Accumulated with R and G moved to another matrix type by `move` (host <-> backend).
template <class M2, class T, class M, class Move> Accumulated<T, M2> rehome(Accumulated<T, M>&& acc, Move&& move) {
  Accumulated<T, M2> out;
  out.R = move(std::move(acc.R));
  out.G = move(std::move(acc.G));
  out.N = acc.N;
  out.u_data = acc.u_data;
  out.seconds = acc.seconds;
  return out;
}

// accumulate(), with R or G brought to the host (what a distributed run sends between ranks).
template <class Backend>
Accumulated<typename Backend::Scalar> accumulate_to_host(Backend& be, RowBlockSource& X, const SolveOptions& opt) {
  return rehome<Mat<typename Backend::Scalar>>(accumulate(be, X, opt),
                                               [&](matrix_t<Backend>&& M) { return detail::to_host(be, std::move(M)); });
}

template <class Backend, class AccM>
Solution<typename Backend::Scalar> solve_accumulated(Backend& be, const Mat<typename Backend::Scalar>& W,
                                                     Accumulated<typename Backend::Scalar, AccM> acc,
                                                     const SolveOptions& opt);

template <class Backend>
Solution<typename Backend::Scalar> solve(Backend& be, const Mat<typename Backend::Scalar>& W,
                                         RowBlockSource& X, const SolveOptions& opt) {
  validate_problem(W.rows(), W.cols(), X, opt);
  return solve_accumulated(be, W, accumulate(be, X, opt), opt);
}

namespace detail {

// What every step after the pass over X shares: the backend, the problem (in the backend's
// matrix type), what was accumulated, the decision scale and the report being filled. One
// function per method family below fills the factors and returns the SVD of the matrix it
// decomposed (for the report step).
template <class Backend> struct Step {
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  Backend& be;
  const M& W;
  const M& R;  // n x n, R^T R = X X^T (QR methods; empty for the Gram methods)
  const M& G;  // X X^T (Gram methods; empty for the QR methods)
  const SolveOptions& opt;
  const DecisionScale& scale;
  Index N;
  SolveReport& rep;
  Stopwatch& clock;
  bool gram() const { return is_gram_method(opt.method); }  // from G, not R
  // Phases are announced (progress, SolveOptions::on_phase) and are where an interrupt is seen.
  void phase(const std::string& what) const {
    check_interrupted();
    if (opt.on_phase) opt.on_phase(what);
  }
};

// A = m x r, B = r x n, in the backend's matrix type until the end of the solve.
template <class Backend> struct Factors {
  matrix_t<Backend> A, B;
};

// The numerical rank of X (report.x_rank, x_singular_values, x_rank_tol), from the singular values
// of R or the eigenvalues of G. Returns the squared feature norms ||x_i||^2 (R's column norms or
// G's diagonal), in double: in float32, ||X||_F^2 and the squared feature norms overflow for data
// near 1e19 (corpus case f32_overflow_1e20), which would make every tolerance Inf.
template <class Backend> std::vector<double> x_rank_step(const Step<Backend>& s) {
  using T = typename Backend::Scalar;
  using Tr = ScalarTraits<T>;
  using std::sqrt;
  const Index n = s.W.cols();
  const bool gram = s.gram();
  if (gram && !s.be.all_finite(s.G))
    throw Breakdown("the Gram matrix X X^T is not finite in " + s.rep.precision +
                    " (||X||_F^2 overflows the working precision)");
  Vec<T> x_sv;  // singular values of X, descending
  if (!gram) {
    x_sv = singular_values(s.be, s.R);
  } else {
    const Vec<T> lambda = eigenvalues(s.be, s.G);
    x_sv = Vec<T>(n);
    for (Index i = 0; i < n; ++i) x_sv(i) = sqrt(std::max(lambda(i), T(0)));
    x_sv = descending<T>(x_sv);
  }
  // ||X||_F from what was accumulated: ||R||_F = ||X||_F (R^T R = X X^T), trace(G) = ||X||_F^2.
  std::vector<double> col2;
  if (gram) {
    const Vec<T> g = s.be.diagonal(s.G);
    col2.resize(std::size_t(n));
    for (Index i = 0; i < n; ++i) col2[std::size_t(i)] = std::max(0.0, Tr::to_double(g(i)));
  } else {
    col2 = s.be.column_sq_norms(s.R);
  }
  double x_fro2 = 0;
  for (double c : col2) x_fro2 += c;
  const double x_fro = std::sqrt(x_fro2);
  const double x_2 = x_sv.size() ? Tr::to_double(x_sv(0)) : 0.0;
  s.rep.x_rank_tol = gram ? s.scale.x_rank_tol_gram(n, s.N, x_fro, x_2) : s.scale.x_rank_tol(n, x_fro, x_2);
  s.rep.x_rank = 0;
  for (Index i = 0; i < x_sv.size(); ++i) {
    s.rep.x_singular_values.push_back(Tr::to_double(x_sv(i)));
    if (Tr::to_double(x_sv(i)) > s.rep.x_rank_tol) ++s.rep.x_rank;
  }
  return col2;
}

// COALA (MATH.md 1.1) and its mu -> 0 limit (1.2): SVD of W R_mu^T, A = U_r, B = U_r^T W; the limit
// with k = rank(W X) < r completes U_k by the top r - k directions of (I - U_k U_k^T) W.
template <class Backend>
ThinSvd<typename Backend::Scalar, matrix_t<Backend>> coala_factors(const Step<Backend>& s, double nu, Factors<Backend>& f) {
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  using Tr = ScalarTraits<T>;
  using std::sqrt;
  const Index m = s.W.rows(), n = s.W.cols(), r = s.opt.rank;
  auto& be = s.be;
  const M& W = s.W;
  SolveReport& rep = s.rep;
  M R_mu;
  const M* Rw = &s.R;
  if (s.opt.mu > 0) {
    M root_mu_I = be.zeros(n, n);
    be.add_diagonal(root_mu_I, sqrt(T(s.opt.mu)));
    R_mu = be.stack_r(s.R, root_mu_I);  // R_mu = qr_R([R; sqrt(mu) I])
    Rw = &R_mu;
    rep.seconds["regularize"] = s.clock.lap();
  }
  s.phase("svd of W R^T, " + shape_str(m, n));
  ThinSvd<T, M> svd = be.svd(product(be, W, false, *Rw, true));
  rep.seconds["svd"] = s.clock.lap();
  if (s.opt.method == Method::coala) {
    f.A = be.left_cols(svd.U, r);
  } else {
    // MATH.md 1.2: k = rank(W X), decided against an absolute threshold on s_i(W R^T).
    const double wx_tol = s.scale.wx_sv_tol(n, nu, svd.s.size() ? Tr::to_double(svd.s(0)) : 0.0);
    Index k = 0;
    while (k < svd.s.size() && Tr::to_double(svd.s(k)) > wx_tol) ++k;
    rep.wx_rank = k;
    rep.wx_rank_tol = wx_tol;
    if (k >= r) {
      f.A = be.left_cols(svd.U, r);
    } else {
      // Data fixes U_k only; the rest comes from W itself: V = top r-k left singular vectors
      // of (I - U_k U_k^T) W, so that W'_* X = W X and W'_* is nearest to W.
      const M Uk = be.left_cols(svd.U, k);
      M Wperp = be.copy(W);  // W - U_k (U_k^T W)
      be.gemm(false, false, T(-1), Uk, product(be, Uk, true, W, false), T(1), Wperp);
      s.phase("svd of (I - U_k U_k^T) W, " + shape_str(m, n));
      const ThinSvd<T, M> s2 = be.svd(Wperp);
      f.A = be.hcat(Uk, be.left_cols(s2.U, r - k));
      const Index j = r - k;
      rep.perp_gap = Tr::to_double(s2.s(j - 1)) - (j < s2.s.size() ? Tr::to_double(s2.s(j)) : 0.0);
      rep.notes.push_back("rank(WX) = " + std::to_string(k) + " < r: completed with the top " +
                          std::to_string(r - k) + " directions of (I - U_k U_k^T) W");
    }
    rep.wx_s_k = k > 0 ? Tr::to_double(svd.s(k - 1)) : 0.0;
    rep.wx_s_k_plus_1 = k < svd.s.size() ? Tr::to_double(svd.s(k)) : 0.0;
  }
  f.B = product(be, f.A, true, W, false);
  return svd;
}

// SVD-LLM (with its eigenvalue-shift fallback) and the damped Gram method (CorDA / GPTQ style):
// Cholesky G = L L^T, SVD of W L, A = U_r Sig_r^{1/2}, B = Sig_r^{1/2} V_r^T inv(L). A Cholesky
// that fails for good leaves rep.status failed and returns an empty SVD.
template <class Backend>
ThinSvd<typename Backend::Scalar, matrix_t<Backend>> cholesky_factors(const Step<Backend>& s, Factors<Backend>& f) {
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  using Tr = ScalarTraits<T>;
  const Index m = s.W.rows(), n = s.W.cols(), r = s.opt.rank;
  auto& be = s.be;
  const M& G = s.G;  // n x n
  SolveReport& rep = s.rep;
  M L;
  if (s.opt.method == Method::svd_llm) {
    if (!be.cholesky_lower(G, L)) {
      // SVD-LLM's own fallback: shift by the most negative eigenvalue plus 1e-6, retry.
      const T lmin = eigenvalues(be, G)(0);
      const T shift = -lmin + T(1e-6);
      rep.notes.push_back("svd-llm fallback fired: Cholesky of X X^T failed; shifted by -lambda_min + 1e-6");
      rep.fallback_shift = Tr::to_double(shift);
      M Gs = be.copy(G);
      be.add_diagonal(Gs, shift);
      if (!be.cholesky_lower(Gs, L)) {
        rep.status = SolveStatus::failed;
        rep.failure = "svd-llm: Cholesky failed again after SVD-LLM's shift";
      }
    }
  } else {
    // G + d mean(diag G) I, d = 0.01, doubled until Cholesky works.
    const T mean_diag = be.diagonal(G).mean();
    double d = 0.01;
    for (int tries = 0;; ++tries) {
      M Gd = be.copy(G);
      be.add_diagonal(Gd, T(d) * mean_diag);
      if (be.cholesky_lower(Gd, L)) break;
      if (tries == 60) {
        rep.status = SolveStatus::failed;
        rep.failure = "damped: Cholesky failed for every damping up to 2^60 * 0.01";
        break;
      }
      d *= 2;
    }
    rep.damping = d;
    if (d > 0.01) rep.notes.push_back("damping doubled to d = " + std::to_string(d));
  }
  rep.seconds["cholesky"] = s.clock.lap();
  if (!rep.ok()) return {};
  s.phase("svd of W L, " + shape_str(m, n));
  ThinSvd<T, M> svd = be.svd(product(be, s.W, false, L, false));  // m x n
  rep.seconds["svd"] = s.clock.lap();
  // A = U_r Sig_r^{1/2}, B = Sig_r^{1/2} V_r^T inv(L): the explicit inverse, as SVD-LLM does.
  const Vec<T> sqrt_sig = svd.s.head(r).cwiseSqrt();
  f.A = be.left_cols(svd.U, r);
  be.scale_columns(f.A, sqrt_sig);
  M Vs = be.left_cols(svd.V, r);  // V_r Sig_r^{1/2}
  be.scale_columns(Vs, sqrt_sig);
  f.B = product(be, Vs, true, be.inverse(L), false);
  return svd;
}

// The SVD of W U diag(d) (m x n): with U, d^2 the eigen- or singular pairs of G = X X^T, its left
// singular vectors are those of W X (svd-llm-v2, pinv).
template <class Backend>
ThinSvd<typename Backend::Scalar, matrix_t<Backend>> svd_of_w_scaled(const Step<Backend>& s, const matrix_t<Backend>& U,
                                                                     const Vec<typename Backend::Scalar>& d) {
  s.phase("svd of W U_s diag(sqrt l), " + shape_str(s.W.rows(), s.W.cols()));
  matrix_t<Backend> M = product(s.be, s.W, false, U, false);
  s.be.scale_columns(M, d);
  auto svd = s.be.svd(M);
  s.rep.seconds["svd"] = s.clock.lap();
  return svd;
}

// SVD-LLM v2: SVD of G (not eigh, as the paper writes it), D = W U_s diag(sqrt l), SVD of D,
// B = diag(s_r) V_r^T diag(1/sqrt l) U_s^T (Inf where l = 0: the formula's own failure).
template <class Backend>
ThinSvd<typename Backend::Scalar, matrix_t<Backend>> svd_llm_v2_factors(const Step<Backend>& s, Factors<Backend>& f) {
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  const Index n = s.W.cols(), r = s.opt.rank;
  auto& be = s.be;
  s.phase("svd of X X^T, " + shape_str(n, n));
  const ThinSvd<T, M> gs = be.svd(s.G);
  const Vec<T> sqrt_l = gs.s.cwiseSqrt();
  ThinSvd<T, M> svd = svd_of_w_scaled(s, gs.U, sqrt_l);
  f.A = be.left_cols(svd.U, r);
  // B^T = U_s diag(1/sqrt l) V_r diag(s_r): the n x r factor scaled in place, then one product.
  M right = be.left_cols(svd.V, r);
  be.scale_rows(right, Vec<T>(sqrt_l.cwiseInverse()));
  be.scale_columns(right, Vec<T>(svd.s.head(r)));
  f.B = product(be, right, true, gs.U, true);
  return svd;
}

// DRONE: W' = [W X]_r X^+ = U_r U_r^T W Pi, Pi the projector onto range(X); from G: left singular
// vectors of W X are those of W U_s diag(sqrt l), Pi = U_s diag(l > tol) U_s^T, tol on
// l = (rtol * sqrt(l_max))^2 (pinv's relative cut on the singular values of X).
template <class Backend>
ThinSvd<typename Backend::Scalar, matrix_t<Backend>> pinv_factors(const Step<Backend>& s, Factors<Backend>& f) {
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  using std::sqrt;
  const Index m = s.W.rows(), n = s.W.cols(), r = s.opt.rank;
  auto& be = s.be;
  const SymEig<T, M> e = be.eigh(s.G);
  const T lmax = e.values.size() ? e.values(n - 1) : T(0);
  // The cut is DRONE's own, torch.linalg.pinv's default: rtol = max(dims) * eps of the working
  // dtype, kept as the baseline has it, N included: in float32 it exceeds 1e-3 from N = 1e4
  // tokens on and cuts real directions (a finding about the baseline, not a bug here). The
  // reference backend cuts as a float64 pinv would (its own eps would keep rounding noise of
  // the data as signal). --rank-rtol overrides it.
  const double rtol = s.opt.rank_rtol > 0 ? s.opt.rank_rtol
                                          : double(std::max({m, n, s.N})) * std::max(s.scale.u_work, 0x1p-53);
  const T ltol = T(rtol) * T(rtol) * lmax;
  Vec<T> sqrt_l(n), keep(n);
  for (Index i = 0; i < n; ++i) {
    const bool in = e.values(i) > ltol;
    keep(i) = in ? T(1) : T(0);
    sqrt_l(i) = in ? sqrt(e.values(i)) : T(0);
  }
  ThinSvd<T, M> svd = svd_of_w_scaled(s, e.vectors, sqrt_l);
  f.A = be.left_cols(svd.U, r);
  // B = ((A^T W) U_s) diag(keep) U_s^T
  M AWU = product(be, product(be, f.A, true, s.W, false), false, e.vectors, false);
  be.scale_columns(AWU, keep);
  f.B = product(be, AWU, false, e.vectors, true);
  return svd;
}

// The report of a method that ran: singular values of the decomposed matrix, the gap at the cut
// and whether it resolves the rank-r answer, and the objective ||(W - A B) X||_F from R
// (R^T R = X X^T) or from G (||E X||^2 = trace(E G E^T)).
template <class Backend>
void report_step(const Step<Backend>& s, const ThinSvd<typename Backend::Scalar, matrix_t<Backend>>& svd, double nu_mu,
                 const Factors<Backend>& f, Solution<typename Backend::Scalar>& sol) {
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  using Tr = ScalarTraits<T>;
  using std::sqrt;
  auto& be = s.be;
  SolveReport& rep = s.rep;
  const Index n = s.W.cols(), r = s.opt.rank, k = svd.s.size();
  sol.singular_values = svd.s;
  T tail2(0);
  for (Index i = 0; i < k; ++i) {
    rep.singular_values.push_back(Tr::to_double(svd.s(i)));
    rep.singular_values_decimal.push_back(Tr::to_decimal(svd.s(i)));
    if (i >= r) tail2 += svd.s(i) * svd.s(i);
  }
  const T tail = sqrt(tail2);
  rep.eckart_young_tail = Tr::to_double(tail);
  rep.eckart_young_tail_decimal = Tr::to_decimal(tail);
  const T s_r = (r >= 1 && r <= k) ? svd.s(r - 1) : T(0);
  const T s_r1 = r < k ? svd.s(r) : T(0);
  rep.gap = Tr::to_double(s_r - s_r1);
  const double s_1 = k ? Tr::to_double(svd.s(0)) : 0.0;
  rep.uniqueness_tol = s.gram() ? s.scale.uniqueness_tol_gram(n, s.N, nu_mu, s_1, Tr::to_double(s_r), Tr::to_double(s_r1))
                            : s.scale.uniqueness_tol(n, nu_mu, s_1);
  rep.unique = r == 0 || r >= k || rep.gap > rep.uniqueness_tol;

  if (!be.all_finite(f.A) || !be.all_finite(f.B)) {
    rep.status = SolveStatus::failed;
    rep.failure = std::string(method_name(s.opt.method)) + ": factors contain NaN or Inf";
    return;
  }
  M E = be.copy(s.W);  // W - A B
  be.gemm(false, false, T(-1), f.A, f.B, T(1), E);
  T f2;
  if (s.gram()) f2 = std::max(T(0), be.dot(product(be, E, false, s.G, false), E));
  else f2 = be.squared_norm(product(be, E, false, s.R, true));
  sol.objective = sqrt(f2);
  rep.objective = Tr::to_double(sol.objective);
  rep.objective_decimal = Tr::to_decimal(sol.objective);
  rep.objective_mu = Tr::to_double(sqrt(f2 + T(s.opt.mu) * be.squared_norm(E)));
}

// Everything after the pass over X, with W and the accumulated factor in the backend's matrix
// type: rank of X, the method, the report; A and B come to the host at the end.
template <class Backend>
Solution<typename Backend::Scalar> solve_resident(Backend& be, const matrix_t<Backend>& W,
                                                  const Accumulated<typename Backend::Scalar, matrix_t<Backend>>& acc,
                                                  const SolveOptions& opt) {
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  using Tr = ScalarTraits<T>;
  const Index m = W.rows(), n = W.cols(), N = acc.N;
  const bool gram = is_gram_method(opt.method);
  const M& F = gram ? acc.G : acc.R;
  if (F.rows() != n || F.cols() != n)
    throw Error(std::string("solve: the accumulated ") + (gram ? "G" : "R") + " is " + shape_str(F.rows(), F.cols()) +
                ", expected " + shape_str(n, n));

  Solution<T> sol;
  SolveReport& rep = sol.report;
  rep.method = method_name(opt.method);
  rep.backend = be.name();
  rep.precision = be.precision();
  rep.m = m; rep.n = n; rep.N = N; rep.rank = opt.rank; rep.mu = opt.mu;
  rep.seconds["accumulate"] = acc.seconds;
  Stopwatch clock;
  const DecisionScale scale{acc.u_data, Tr::to_double(Tr::unit_roundoff()), opt.rank_rtol};
  const Step<Backend> step{be, W, acc.R, acc.G, opt, scale, N, rep, clock};
  // A Breakdown (a factorization that fails on the data it was given, a Gram matrix that
  // overflows the working precision) is the method's failure, reported, not an error.
  try {
    const std::vector<double> col2 = x_rank_step(step);
    rep.seconds["x_rank"] = clock.lap();
    // nu = sum_i ||w_i|| ||x_i||; nu_mu with ||x_i||^2 + mu for X_mu = [X, sqrt(mu) I].
    const std::vector<double> w2 = be.column_sq_norms(W);
    double nu = 0, nu_mu = 0;
    for (Index i = 0; i < n; ++i) {
      nu += std::sqrt(w2[std::size_t(i)]) * std::sqrt(col2[std::size_t(i)]);
      nu_mu += std::sqrt(w2[std::size_t(i)]) * std::sqrt(col2[std::size_t(i)] + opt.mu);
    }
    Factors<Backend> f;
    ThinSvd<T, M> svd;  // of the matrix the method decomposed
    switch (opt.method) {
      case Method::coala:
      case Method::limit: svd = coala_factors(step, nu, f); break;
      case Method::svd_llm:
      case Method::damped: svd = cholesky_factors(step, f); break;
      case Method::svd_llm_v2: svd = svd_llm_v2_factors(step, f); break;
      case Method::pinv: svd = pinv_factors(step, f); break;
    }
    rep.seconds["factors"] = clock.lap();
    if (rep.ok()) report_step(step, svd, nu_mu, f, sol);
    sol.A = to_host(be, std::move(f.A));
    sol.B = to_host(be, std::move(f.B));
  } catch (const Breakdown& b) {
    rep.status = SolveStatus::failed;
    rep.failure = std::string(method_name(opt.method)) + ": " + b.what();
    sol.A.resize(0, 0);
    sol.B.resize(0, 0);
  }
  rep.seconds["report"] = clock.lap();
  rep.peak_rss_bytes = peak_rss_bytes();
  return sol;
}

}  // namespace detail

// Everything after the pass over X: rank of X, the method, the report. acc must come from
// accumulate() (in the backend's matrix type) or be on the host (a distributed run's; uploaded
// here), with the same opt.method; the problem is assumed validated (validate_problem). W is
// uploaded once; a host backend uses it where it is.
template <class Backend, class AccM>
Solution<typename Backend::Scalar> solve_accumulated(Backend& be, const Mat<typename Backend::Scalar>& W,
                                                     Accumulated<typename Backend::Scalar, AccM> acc,
                                                     const SolveOptions& opt) {
  static_assert(check_solve_backend<Backend>());
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  if constexpr (host_resident_v<Backend>) {
    static_assert(std::is_same_v<AccM, M>, "a host backend's Accumulated holds Mat<T>");
    return detail::solve_resident(be, W, acc, opt);
  } else if constexpr (std::is_same_v<AccM, M>) {
    return detail::solve_resident(be, be.upload(W), acc, opt);
  } else {
    static_assert(std::is_same_v<AccM, Mat<T>>, "Accumulated holds the backend's matrices or host ones");
    // Only the factor the method needs goes up (the other one is empty).
    const Accumulated<T, M> dev =
        rehome<M>(std::move(acc), [&](Mat<T>&& H) { return H.size() ? be.upload(H) : M(); });
    return detail::solve_resident(be, be.upload(W), dev, opt);
  }
}

}  // namespace lowrank
