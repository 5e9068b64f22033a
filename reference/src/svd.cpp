// The reference SVD on in-place MPFR kernels: Golub-Kahan-Reinsch (Golub & Van Loan, 4th ed.,
// Algorithms 5.4.2 and 8.6.2). M (m x n, m >= n; a wide M is factored as M^T) = U B V^T by
// Householder bidiagonalization (LAPACK dgebd2's reflectors), U and V by back-accumulation of the
// reflectors, then implicit-shift QR on the bidiagonal B (Wilkinson shift from the trailing 2 x 2
// of B^T B) with every Givens rotation applied to the columns of U and V.
//
// Every O(m n^2) loop runs on preallocated numbers in one MpfrBlock (no allocation per
// operation): the reflectors as column dot/axpy sweeps of mpfr_fma, the rotations as
// x' = c x + s y, y' = c y - s x in two mpfr_mul and two mpfr_fma/fms per pair. The O(n) scalar
// work of the bidiagonal iteration (shifts, rotation parameters) uses mpreal.
//
// Accuracy: backward stable, ||M - U S V^T|| and ||I - U^T U||, ||I - V^T V|| of order n u
// (u = 2^-p), singular values within n u ||M||_2 (Golub & Van Loan, 8.6.3). Negligible
// superdiagonals: |e_i| <= u (|d_i| + |d_{i+1}|); negligible diagonals: |d_i| <= u ||B||, their
// row (or, for the last one, column) chased to zero with rotations (Algorithm 8.6.2).
#include "lowrank/reference/svd.hpp"

#include <algorithm>
#include <numeric>
#include <vector>

#include "lowrank/core/error.hpp"
#include "mpfr_block.hpp"

namespace lowrank {
namespace {

using reference_detail::MpfrBlock;
constexpr mpfr_rnd_t rnd = MPFR_RNDN;

// Scratch numbers for the kernels below.
struct Work {
  mpfr_t w, t, u, tau, scal, norm;
  explicit Work(mpfr_prec_t p) { mpfr_inits2(p, w, t, u, tau, scal, norm, (mpfr_ptr)0); }
  ~Work() { mpfr_clears(w, t, u, tau, scal, norm, (mpfr_ptr)0); }
};

void householder(const std::vector<mpfr_ptr>& x, Work& k) { reference_detail::householder(x, k.tau, k.norm, k.scal); }

// Columns c0 .. c1-1 of X, rows r0 .. X.rows()-1: X := (I - tau v v^T) X, v_0 = 1 at row r0 and
// v[i] at rows r0 + i (one dot and one axpy sweep per column).
void reflect_columns(MpfrBlock& X, Index r0, Index c0, Index c1, const std::vector<mpfr_ptr>& v, Work& k) {
  if (mpfr_zero_p(k.tau)) return;
  const Index len = Index(v.size());
  for (Index c = c0; c < c1; ++c) {
    mpfr_set(k.w, X(r0, c), rnd);
    for (Index i = 1; i < len; ++i) mpfr_fma(k.w, v[std::size_t(i)], X(r0 + i, c), k.w, rnd);
    mpfr_mul(k.w, k.w, k.tau, rnd);
    mpfr_sub(X(r0, c), X(r0, c), k.w, rnd);
    mpfr_neg(k.w, k.w, rnd);
    for (Index i = 1; i < len; ++i) mpfr_fma(X(r0 + i, c), k.w, v[std::size_t(i)], X(r0 + i, c), rnd);
  }
}

// Rows r0 .. X.rows()-1 of X: X(:, c0 ..) := X(:, c0 ..) (I - tau v v^T), v_0 = 1 at column c0:
// w = X(:, c0) + sum_c v_c X(:, c), then X(:, c) -= tau v_c w, all by contiguous column sweeps.
void reflect_rows(MpfrBlock& X, Index r0, Index c0, const std::vector<mpfr_ptr>& v, MpfrBlock& w, Work& k) {
  if (mpfr_zero_p(k.tau)) return;
  const Index m = X.rows(), len = Index(v.size());
  for (Index i = r0; i < m; ++i) mpfr_set(w(i, 0), X(i, c0), rnd);
  for (Index c = 1; c < len; ++c)
    for (Index i = r0; i < m; ++i) mpfr_fma(w(i, 0), v[std::size_t(c)], X(i, c0 + c), w(i, 0), rnd);
  for (Index i = r0; i < m; ++i) mpfr_mul(w(i, 0), w(i, 0), k.tau, rnd);
  for (Index i = r0; i < m; ++i) mpfr_sub(X(i, c0), X(i, c0), w(i, 0), rnd);
  for (Index c = 1; c < len; ++c) {
    mpfr_neg(k.t, v[std::size_t(c)], rnd);
    for (Index i = r0; i < m; ++i) mpfr_fma(X(i, c0 + c), k.t, w(i, 0), X(i, c0 + c), rnd);
  }
}

// Columns a, b of X: x' = c x + s y, y' = c y - s x.
void rotate(MpfrBlock& X, Index a, Index b, const mpreal& c, const mpreal& s, Work& k) {
  mpfr_srcptr cc = c.mpfr_srcptr(), ss = s.mpfr_srcptr();
  for (Index i = 0; i < X.rows(); ++i) {
    mpfr_ptr x = X(i, a), y = X(i, b);
    mpfr_mul(k.t, ss, y, rnd);
    mpfr_mul(k.u, ss, x, rnd);
    mpfr_fma(x, cc, x, k.t, rnd);
    mpfr_fms(y, cc, y, k.u, rnd);
  }
}

// (c, s, r) with c f + s g = r, -s f + c g = 0 (r = hypot(f, g); c = 1, s = 0 when both are 0).
void givens(const mpreal& f, const mpreal& g, mpreal& c, mpreal& s, mpreal& r) {
  if (g == 0) {
    c = 1;
    s = 0;
    r = f;
    return;
  }
  r = mpfr::hypot(f, g);
  c = f / r;
  s = g / r;
}

// The SVD of the bidiagonal B (d: diagonal, e: superdiagonal) by implicit-shift QR, with every
// rotation applied to U (left: B = G B, U = U G^T) and V (right: B = B G, V = V G).
void bidiagonal_qr(std::vector<mpreal>& d, std::vector<mpreal>& e, MpfrBlock& U, MpfrBlock& V, Work& k) {
  const Index n = Index(d.size());
  if (n <= 1) return;
  const mpreal eps = mpfr::ldexp(mpreal(1), 1 - int(mpreal::get_default_prec()));
  mpreal bnorm = 0;
  for (Index i = 0; i < n; ++i) bnorm = mpfr::max(bnorm, mpfr::abs(d[std::size_t(i)]));
  for (Index i = 0; i + 1 < n; ++i) bnorm = mpfr::max(bnorm, mpfr::abs(e[std::size_t(i)]));
  const mpreal dtol = eps * bnorm;
  mpreal c, s, r, f, g, bulge;
  const long max_steps = 6L * n * n;  // LAPACK dbdsqr's MAXITR * n^2
  long steps = 0;
  Index hi = n - 1;
  while (hi > 0) {
    // Negligible superdiagonals; the trailing diagonal part shrinks hi.
    for (Index i = 0; i < hi; ++i)
      if (mpfr::abs(e[std::size_t(i)]) <= eps * (mpfr::abs(d[std::size_t(i)]) + mpfr::abs(d[std::size_t(i + 1)])))
        e[std::size_t(i)] = 0;
    while (hi > 0 && e[std::size_t(hi - 1)] == 0) --hi;
    if (hi == 0) break;
    Index lo = hi - 1;
    while (lo > 0 && e[std::size_t(lo - 1)] != 0) --lo;
    // Block lo .. hi has every superdiagonal nonzero. A negligible diagonal in it: chase.
    Index zero = -1;
    for (Index i = lo; i <= hi; ++i)
      if (mpfr::abs(d[std::size_t(i)]) <= dtol) {
        zero = i;
        break;
      }
    if (zero >= 0) {
      const std::size_t z = std::size_t(zero);
      d[z] = 0;
      if (zero < hi) {
        // Row `zero`: its superdiagonal f moves right and is removed by left rotations of rows
        // (zero, j) against d_j.
        f = e[z];
        e[z] = 0;
        for (Index j = zero + 1; j <= hi; ++j) {
          const std::size_t jj = std::size_t(j);
          givens(d[jj], f, c, s, r);  // c d_j + s f = r; s d_j - c f = 0
          d[jj] = r;
          // rows (zero, j): row_zero' = c row_zero - s row_j, row_j' = s row_zero + c row_j
          rotate(U, j, zero, c, s, k);
          if (j < hi) {
            f = -s * e[jj];
            e[jj] = c * e[jj];
          }
        }
      } else {
        // The last diagonal: its column's superdiagonal moves up, removed by right rotations of
        // columns (j, hi) against d_j.
        f = e[std::size_t(hi - 1)];
        e[std::size_t(hi - 1)] = 0;
        for (Index j = hi - 1; j >= lo; --j) {
          const std::size_t jj = std::size_t(j);
          givens(d[jj], f, c, s, r);
          d[jj] = r;
          rotate(V, j, hi, c, s, k);
          if (j > lo) {
            f = -s * e[jj - 1];
            e[jj - 1] = c * e[jj - 1];
          }
        }
      }
      continue;
    }
    if (++steps > max_steps)
      throw Breakdown("reference svd: the bidiagonal QR iteration did not converge in " + std::to_string(max_steps) +
                      " steps (n = " + std::to_string(n) + ")");
    // Wilkinson shift: the eigenvalue of the trailing 2 x 2 of B^T B nearer its last entry.
    const std::size_t h = std::size_t(hi);
    const mpreal t11 = d[h - 1] * d[h - 1] + (hi - 1 > lo ? e[h - 2] * e[h - 2] : mpreal(0));
    const mpreal t12 = d[h - 1] * e[h - 1];
    const mpreal t22 = d[h] * d[h] + e[h - 1] * e[h - 1];
    const mpreal half = (t11 - t22) / 2;
    const mpreal root = mpfr::hypot(half, t12);
    const mpreal denom = half >= 0 ? half + root : half - root;
    const mpreal mu = denom == 0 ? t22 : t22 - t12 * t12 / denom;
    // The implicit QR step on B^T B - mu I, chasing the bulge down the block.
    f = d[std::size_t(lo)] * d[std::size_t(lo)] - mu;
    g = d[std::size_t(lo)] * e[std::size_t(lo)];
    for (Index kk = lo; kk < hi; ++kk) {
      const std::size_t q = std::size_t(kk);
      // Right rotation of columns (kk, kk + 1): [f g] -> [r 0].
      givens(f, g, c, s, r);
      if (kk > lo) e[q - 1] = r;
      f = c * d[q] + s * e[q];
      e[q] = c * e[q] - s * d[q];
      bulge = s * d[q + 1];  // (kk + 1, kk)
      d[q + 1] = c * d[q + 1];
      rotate(V, kk, kk + 1, c, s, k);
      // Left rotation of rows (kk, kk + 1): [f; bulge] -> [r; 0].
      givens(f, bulge, c, s, r);
      d[q] = r;
      f = c * e[q] + s * d[q + 1];
      d[q + 1] = c * d[q + 1] - s * e[q];
      e[q] = f;
      if (kk + 1 < hi) {
        g = s * e[q + 1];  // the bulge at (kk, kk + 2)
        e[q + 1] = c * e[q + 1];
        f = e[q];
      }
      rotate(U, kk, kk + 1, c, s, k);
    }
  }
}

}  // namespace

ThinSvd<mpreal> golub_kahan_svd(const MatrixMP& M_in) {
  const bool wide = M_in.rows() < M_in.cols();
  const Index m = wide ? M_in.cols() : M_in.rows(), n = wide ? M_in.rows() : M_in.cols();
  if (n == 0) return ThinSvd<mpreal>{MatrixMP(M_in.rows(), 0), VectorMP(0), MatrixMP(M_in.cols(), 0)};
  for (Index j = 0; j < M_in.cols(); ++j)
    for (Index i = 0; i < M_in.rows(); ++i)
      if (!mpfr_number_p(M_in(i, j).mpfr_srcptr()))
        throw Error("reference svd: the " + shape_str(M_in.rows(), M_in.cols()) + " matrix contains NaN or Inf");
  const mpfr_prec_t prec = mpreal::get_default_prec();
  Work k(prec);
  MpfrBlock A(m, n, prec), w(m, 1, prec);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < m; ++i) mpfr_set(A(i, j), (wide ? M_in(j, i) : M_in(i, j)).mpfr_srcptr(), rnd);

  // Bidiagonalization A = Q B P^T: left reflectors in A(j+1.., j), right ones in A(j, j+2..).
  std::vector<mpreal> d(static_cast<std::size_t>(n)), e(static_cast<std::size_t>(n > 1 ? n - 1 : 0));
  std::vector<mpreal> tau_q(static_cast<std::size_t>(n)), tau_p(static_cast<std::size_t>(n));
  std::vector<mpfr_ptr> v;
  for (Index j = 0; j < n; ++j) {
    v.clear();
    for (Index i = j; i < m; ++i) v.push_back(A(i, j));
    householder(v, k);
    tau_q[std::size_t(j)] = mpreal(k.tau);
    reflect_columns(A, j, j + 1, n, v, k);
    d[std::size_t(j)] = mpreal(A(j, j));
    if (j + 1 < n) {
      v.clear();
      for (Index c = j + 1; c < n; ++c) v.push_back(A(j, c));
      householder(v, k);
      tau_p[std::size_t(j)] = mpreal(k.tau);
      reflect_rows(A, j + 1, j + 1, v, w, k);
      e[std::size_t(j)] = mpreal(A(j, j + 1));
    }
  }
  // U = Q(:, 0..n-1) = H_0 ... H_{n-1} [I; 0] and V = P = G_0 ... G_{n-2}, accumulated backwards so
  // that each reflector touches only the columns it can change.
  MpfrBlock U(m, n, prec), V(n, n, prec);
  for (Index j = 0; j < n; ++j) {
    mpfr_set_ui(U(j, j), 1, rnd);
    mpfr_set_ui(V(j, j), 1, rnd);
  }
  for (Index j = n - 1; j >= 0; --j) {
    v.clear();
    for (Index i = j; i < m; ++i) v.push_back(A(i, j));
    mpfr_set(k.tau, tau_q[std::size_t(j)].mpfr_srcptr(), rnd);
    reflect_columns(U, j, j, n, v, k);
  }
  for (Index j = n - 2; j >= 0; --j) {
    v.clear();
    for (Index c = j + 1; c < n; ++c) v.push_back(A(j, c));
    mpfr_set(k.tau, tau_p[std::size_t(j)].mpfr_srcptr(), rnd);
    reflect_columns(V, j + 1, j + 1, n, v, k);
  }

  bidiagonal_qr(d, e, U, V, k);

  // Nonnegative values (a sign moves into V), sorted descending.
  std::vector<Index> order(static_cast<std::size_t>(n));
  std::iota(order.begin(), order.end(), Index(0));
  for (Index j = 0; j < n; ++j)
    if (d[std::size_t(j)] < 0) {
      d[std::size_t(j)] = -d[std::size_t(j)];
      for (Index i = 0; i < n; ++i) mpfr_neg(V(i, j), V(i, j), rnd);
    }
  std::stable_sort(order.begin(), order.end(),
                   [&](Index a, Index b) { return d[std::size_t(a)] > d[std::size_t(b)]; });
  MatrixMP Uo(m, n), Vo(n, n);
  VectorMP so(n);
  for (Index jj = 0; jj < n; ++jj) {
    const Index j = order[std::size_t(jj)];
    so(jj) = d[std::size_t(j)];
    for (Index i = 0; i < m; ++i) mpfr_set(Uo(i, jj).mpfr_ptr(), U(i, j), rnd);
    for (Index i = 0; i < n; ++i) mpfr_set(Vo(i, jj).mpfr_ptr(), V(i, j), rnd);
  }
  return oriented_svd<mpreal, MatrixMP>(std::move(Uo), std::move(so), std::move(Vo), wide);
}

}  // namespace lowrank
