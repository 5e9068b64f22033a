#pragma once
// Test-matrix generator after LAPACK's DLATMS (MATH.md 1.5): A = U diag(s) V^T with Haar-random
// orthonormal factors and a singular-value mode, computed in MPFR at `bits` and rounded ONCE to
// the storage dtype. Every draw comes from a counter-free xoshiro256** stream seeded through
// splitmix64, and Gaussians are made from it with MPFR's correctly rounded log/cos/sqrt, so the
// output is bit-for-bit the same on every platform and compiler for a given (spec, seed, bits).
//
// Used by `lowrank gen` (the corpus) and by the proof checks' sweeps. Example:
//
//   lowrank::data::MatrixSpec s;
//   s.rows = 96; s.cols = 32; s.mode = lowrank::data::Mode::geometric; s.cond = 1e12;
//   lowrank::MatrixXd X = lowrank::data::generate_matrix(s, /*seed=*/42);   // 96 x 32, float64
#include <cstdint>
#include <string>
#include <vector>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/reference/mp.hpp"

namespace lowrank::data {

// xoshiro256** (Blackman & Vigna), state filled by splitmix64(seed). Platform independent.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next_u64();
  double uniform();        // in (0, 1], 53 random bits, exact in double
  mpreal normal();         // standard Gaussian (Box-Muller in MPFR at the current precision)
 private:
  std::uint64_t s_[4];
  bool have_spare_ = false;
  mpreal spare_;
};

// Singular-value modes (s_1 = 1, s_k = 1/cond over k = the number of nonzero values):
//   geometric   s_i = cond^{-(i-1)/(k-1)}                      (DLATMS mode 3)
//   arithmetic  s_i = 1 - (i-1)/(k-1) (1 - 1/cond)             (DLATMS mode 4)
//   one_small   s_1..s_{k-1} = 1, s_k = 1/cond                 (DLATMS mode 2)
//   one_large   s_1 = 1, s_2..s_k = 1/cond                     (DLATMS mode 1)
//   clustered   four equal-size groups at 1, cond^{-1/3}, cond^{-2/3}, cond^{-1} (exact ties inside)
//   log_uniform s_i = cond^{-t_i}, t_i uniform in [0,1], sorted; then s_1 = 1, s_k = 1/cond exactly
//                                                               (DLATMS mode 5)
//   gaussian    not a spectrum: i.i.d. N(0, 1) entries (cond is ignored), as a random layer's
//               activations; singular values ~ sqrt(rows) +- sqrt(cols)
enum class Mode { geometric, arithmetic, one_small, one_large, clustered, log_uniform, gaussian };
const char* mode_name(Mode m);
Mode parse_mode(const std::string& s);           // the names above; throws lowrank::Error
const std::vector<std::string>& mode_names();

// k values, descending; the first `nonzero` follow `mode` with condition `cond` (>= 1), the rest
// are exactly 0. Draws from `rng` only for log_uniform.
VectorMP singular_values(Mode mode, Index k, Index nonzero, const mpreal& cond, Rng& rng);

// rows x k matrix with orthonormal columns, Haar distributed (k <= rows): the Q factor of a
// Gaussian matrix with the signs of R's diagonal moved into Q (Mezzadri 2007). Draws rows * k
// Gaussians, column by column.
MatrixMP haar_orthonormal(Index rows, Index k, Rng& rng);

struct MatrixSpec {
  Index rows = 0, cols = 0;
  Mode mode = Mode::geometric;
  double cond = 1.0;      // s_1 / s_rank over the nonzero singular values, 1 .. 1e16 (and beyond)
  Index rank = -1;        // number of nonzero singular values; -1 means min(rows, cols)
  // Exact rank deficiency (rank < min(rows, cols)): the stored matrix is C D 2^-(p+q) with
  // integer C (rows x rank) and D (rank x cols) of p and q bits, multiplied in exact integer
  // arithmetic, so its rank is exactly `rank` after storage (a rounded U diag(s) V^T would only
  // be numerically rank deficient, with singular values ~ u s_1). In this mode scale and
  // outlier_factor are rounded to powers of two (exact), and cond should stay <= 2^(p/2)
  // (about 1e3 in float64; small singular values lose relative accuracy to the integer grid).
  bool exact_rank = false;
  double scale = 1.0;     // multiplies the matrix (so s_1 = scale before outliers)
  std::vector<Index> outlier_cols;  // LLM-like outlier channels: these columns are multiplied
  double outlier_factor = 1.0;      //   by outlier_factor (1e2 .. 1e4) before the rounding
  Dtype dtype = Dtype::float64;     // storage precision; the result is rounded once to it
};

// The matrix of `spec` drawn from `rng`: singular values, then U (rows x k), then V (cols x k),
// k = min(rows, cols); computed at `bits` bits (default precision restored afterwards), rounded
// once (round to nearest, subnormals included) to spec.dtype and returned as doubles that are
// exactly representable in that dtype. Throws lowrank::Error on an invalid spec.
MatrixXd generate_matrix(const MatrixSpec& spec, Rng& rng, int bits = 256);
MatrixXd generate_matrix(const MatrixSpec& spec, std::uint64_t seed, int bits = 256);

// Rounds an MPFR matrix once to the dtype (float32 via mpfr_get_flt, not through double).
MatrixXd round_once(const MatrixMP& m, Dtype dtype);

// Sylvester-Hadamard matrix of order k (a power of two) divided by sqrt(k): exactly orthogonal
// in binary floating point when k is a power of four (entries +-2^-j). Used for exact ties.
MatrixXd hadamard_orthogonal(Index k);

}  // namespace lowrank::data
