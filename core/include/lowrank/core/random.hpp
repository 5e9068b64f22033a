#pragma once
// The double-precision seeded generator shared by the proof checks' sweeps and the dynamics
// problems: splitmix64 + Box-Muller, bit-reproducible on every platform (std::normal_distribution
// is not). The corpus uses data/'s MPFR generator (xoshiro256**, correctly rounded Gaussians,
// DLATMS modes), which rounds once to the storage dtype; this one is for matrices made in double.
#include <cstdint>

#include "lowrank/core/matrix.hpp"

namespace lowrank {

class SplitMixRng {
 public:
  explicit SplitMixRng(std::uint64_t seed) : s_(seed) {}
  std::uint64_t next_u64();
  double uniform();  // (0, 1)
  double normal();   // standard Gaussian (Box-Muller, the pair's second value kept for the next call)

 private:
  std::uint64_t s_;
  bool have_spare_ = false;
  double spare_ = 0;
};

// m x n, i.i.d. N(0, 1), drawn column by column.
MatrixXd gaussian(Index m, Index n, SplitMixRng& rng);
// m x k with orthonormal columns, Haar distributed: the Q of a Gaussian's QR with the signs of R's
// diagonal moved into Q (Mezzadri 2007).
MatrixXd haar(Index m, Index k, SplitMixRng& rng);
// Geometric singular values s_i = kappa^{-(i-1)/(q-1)}, i = 1..q (DLATMS mode 3; s = 1 when q = 1).
VectorXd geometric(Index q, double kappa);
// rows x cols = U diag(s) V^T, U and V Haar (drawn in that order), q = s.size() <= min(rows, cols):
// DLATMS with a given spectrum, in double (MATH.md 1.5). Throws lowrank::Error when q is too large.
MatrixXd latms(Index rows, Index cols, const VectorXd& s, SplitMixRng& rng);

}  // namespace lowrank
