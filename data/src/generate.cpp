#include "lowrank/data/generate.hpp"

#include <mpfr.h>

#include <Eigen/QR>
#include <algorithm>
#include <cmath>

#include "lowrank/core/error.hpp"

namespace lowrank::data {
namespace {

std::uint64_t splitmix64(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

// Largest power of two <= |x| (x > 0), as an exponent: x in [2^e, 2^{e+1}).
int pow2_exponent(double x) {
  int e = 0;
  std::frexp(x, &e);  // x = f 2^e, f in [0.5, 1)
  return e - 1;
}

}  // namespace

Rng::Rng(std::uint64_t seed) {
  std::uint64_t x = seed;
  for (auto& s : s_) s = splitmix64(x);
}

std::uint64_t Rng::next_u64() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

double Rng::uniform() { return double((next_u64() >> 11) + 1) * 0x1p-53; }

mpreal Rng::normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  // Box-Muller: every operation is an MPFR operation, correctly rounded, hence portable.
  const mpreal u1 = uniform(), u2 = uniform();
  const mpreal rad = mpfr::sqrt(-2 * mpfr::log(u1));
  const mpreal ang = 2 * mpfr::const_pi() * u2;
  spare_ = rad * mpfr::sin(ang);
  have_spare_ = true;
  return rad * mpfr::cos(ang);
}

const std::vector<std::string>& mode_names() {
  static const std::vector<std::string> names = {"geometric", "arithmetic", "one_small",
                                                 "one_large", "clustered",  "log_uniform", "gaussian"};
  return names;
}
const char* mode_name(Mode m) { return mode_names()[static_cast<int>(m)].c_str(); }
Mode parse_mode(const std::string& s) {
  const auto& names = mode_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == s) return static_cast<Mode>(i);
  throw Error("unknown singular-value mode '" + s +
              "' (expected geometric, arithmetic, one_small, one_large, clustered, log_uniform or gaussian)");
}

VectorMP singular_values(Mode mode, Index k, Index nonzero, const mpreal& cond, Rng& rng) {
  if (k < 0 || nonzero < 0 || nonzero > k)
    throw Error("singular_values: need 0 <= nonzero <= k, got nonzero = " + std::to_string(nonzero) +
                ", k = " + std::to_string(k));
  if (!(cond >= 1)) throw Error("singular_values: cond must be >= 1, got " + cond.toString());
  VectorMP s = VectorMP::Zero(k);
  const Index q = nonzero;
  if (q == 0) return s;
  const mpreal inv = 1 / cond;
  for (Index i = 0; i < q; ++i) {
    const mpreal t = q > 1 ? mpreal(i) / mpreal(q - 1) : mpreal(0);  // 0 .. 1
    switch (mode) {
      case Mode::geometric: s(i) = mpfr::pow(cond, -t); break;
      case Mode::arithmetic: s(i) = 1 - t * (1 - inv); break;
      case Mode::one_small: s(i) = (i == q - 1 && q > 1) ? inv : mpreal(1); break;
      case Mode::one_large: s(i) = (i == 0) ? mpreal(1) : inv; break;
      case Mode::clustered: {
        const Index group = std::min<Index>(3, (4 * i) / q);  // 0..3, equal sizes
        s(i) = mpfr::pow(cond, -mpreal(group) / 3);
        if (q == 1) s(i) = 1;
        break;
      }
      case Mode::log_uniform: s(i) = mpfr::pow(cond, -mpreal(rng.uniform())); break;
      case Mode::gaussian: throw Error("singular_values: mode gaussian has no prescribed singular values");
    }
  }
  if (mode == Mode::log_uniform) {
    std::sort(s.data(), s.data() + q, [](const mpreal& a, const mpreal& b) { return a > b; });
    s(0) = 1;
    if (q > 1) s(q - 1) = inv;
  }
  if (mode == Mode::clustered && q > 1) s(q - 1) = inv;
  return s;
}

MatrixMP haar_orthonormal(Index rows, Index k, Rng& rng) {
  if (k < 0 || k > rows)
    throw Error("haar_orthonormal: need 0 <= k <= rows, got " + shape_str(rows, k));
  MatrixMP G(rows, k);
  for (Index j = 0; j < k; ++j)
    for (Index i = 0; i < rows; ++i) G(i, j) = rng.normal();
  if (k == 0) return G;
  Eigen::HouseholderQR<MatrixMP> qr(G);
  MatrixMP Q = qr.householderQ() * MatrixMP::Identity(rows, k);
  const MatrixMP& R = qr.matrixQR();
  for (Index j = 0; j < k; ++j)
    if (R(j, j) < 0) Q.col(j) = -Q.col(j);
  return Q;
}

MatrixXd round_once(const MatrixMP& m, Dtype dtype) {
  MatrixXd out(m.rows(), m.cols());
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i)
      out(i, j) = dtype == Dtype::float32 ? double(mpfr_get_flt(m(i, j).mpfr_srcptr(), MPFR_RNDN))
                                          : mpfr_get_d(m(i, j).mpfr_srcptr(), MPFR_RNDN);
  return out;
}

MatrixXd hadamard_orthogonal(Index k) {
  if (k < 1 || (k & (k - 1)) != 0) throw Error("hadamard_orthogonal: order must be a power of two, got " + std::to_string(k));
  MatrixXd H = MatrixXd::Ones(1, 1);
  while (H.rows() < k) {
    const Index h = H.rows();
    MatrixXd H2(2 * h, 2 * h);
    H2 << H, H, H, -H;
    H = std::move(H2);
  }
  return H / std::sqrt(double(k));  // exact when k is a power of 4; correctly rounded otherwise
}

MatrixXd generate_matrix(const MatrixSpec& spec, Rng& rng, int bits) {
  const Index m = spec.rows, n = spec.cols, k = std::min(m, n);
  if (m < 0 || n < 0) throw Error("generate_matrix: negative shape " + shape_str(m, n));
  const Index nz = spec.rank < 0 ? k : spec.rank;
  if (nz > k) throw Error("generate_matrix: rank " + std::to_string(nz) + " > min(rows, cols) = " + std::to_string(k));
  if (!(spec.cond >= 1) || !std::isfinite(spec.cond)) throw Error("generate_matrix: cond must be finite and >= 1");
  if (!(spec.scale > 0) || !std::isfinite(spec.scale)) throw Error("generate_matrix: scale must be finite and > 0");
  if (!(spec.outlier_factor > 0) || !std::isfinite(spec.outlier_factor))
    throw Error("generate_matrix: outlier_factor must be finite and > 0");
  for (Index c : spec.outlier_cols)
    if (c < 0 || c >= n) throw Error("generate_matrix: outlier column " + std::to_string(c) + " out of range");
  if (bits < 64 || bits > 4096) throw Error("generate_matrix: bits must be in 64..4096");
  const ReferencePrecision precision(bits);  // put back on return

  if (spec.mode == Mode::gaussian) {
    // i.i.d. N(0, 1) entries drawn column by column (the activations of a random layer), then
    // scale and outliers, rounded once.
    if (spec.exact_rank || nz < k) throw Error("generate_matrix: mode gaussian is always of full rank");
    MatrixMP A(m, n);
    for (Index j = 0; j < n; ++j)
      for (Index i = 0; i < m; ++i) A(i, j) = rng.normal();
    A *= mpreal(spec.scale);
    for (Index c : spec.outlier_cols) A.col(c) *= mpreal(spec.outlier_factor);
    return round_once(A, spec.dtype);
  }
  const VectorMP s = singular_values(spec.mode, k, nz, mpreal(spec.cond), rng);
  const MatrixMP U = haar_orthonormal(m, k, rng);
  const MatrixMP V = haar_orthonormal(n, k, rng);

  if (spec.exact_rank && nz < k) {
    // C = round(2^p U_q diag(s_q)), D = round(2^q V_q^T): integers; C D exact in int64 and in the
    // dtype since |C D| <= q 2^(p+q) <= 2^digits.
    const int digits = spec.dtype == Dtype::float32 ? 24 : 53;
    int lg = 0;
    while ((Index(1) << lg) < std::max<Index>(nz, 1)) ++lg;
    const int p = (digits - lg) / 2, qb = (digits - lg) / 2;
    Eigen::Matrix<std::int64_t, Eigen::Dynamic, Eigen::Dynamic> C(m, nz), D(nz, n);
    for (Index j = 0; j < nz; ++j)
      for (Index i = 0; i < m; ++i) C(i, j) = mpfr::round(mpfr::ldexp(U(i, j) * s(j), p)).toLLong();
    for (Index j = 0; j < n; ++j)
      for (Index i = 0; i < nz; ++i) D(i, j) = mpfr::round(mpfr::ldexp(V(j, i), qb)).toLLong();
    const int e_scale = pow2_exponent(spec.scale);
    const int e_out = pow2_exponent(spec.outlier_factor);
    std::vector<int> col_e(n, e_scale);
    for (Index c : spec.outlier_cols) col_e[c] += e_out;
    MatrixXd out(m, n);
    for (Index j = 0; j < n; ++j)
      for (Index i = 0; i < m; ++i) {
        std::int64_t acc = 0;
        for (Index l = 0; l < nz; ++l) acc += C(i, l) * D(l, j);
        // acc is an integer of at most `digits` bits: exact in the dtype; scaling by 2^e is exact
        // unless it underflows, which round_once-like code would also round; keep it exact:
        out(i, j) = std::ldexp(double(acc), col_e[j] - p - qb);
        if (spec.dtype == Dtype::float32) out(i, j) = double(float(out(i, j)));
      }
    return out;
  }

  MatrixMP A = U * s.asDiagonal() * V.transpose();
  A *= mpreal(spec.scale);
  for (Index c : spec.outlier_cols) A.col(c) *= mpreal(spec.outlier_factor);
  return round_once(A, spec.dtype);
}

MatrixXd generate_matrix(const MatrixSpec& spec, std::uint64_t seed, int bits) {
  Rng rng(seed);
  return generate_matrix(spec, rng, bits);
}

}  // namespace lowrank::data
