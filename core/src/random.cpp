#include "lowrank/core/random.hpp"

#include <Eigen/QR>
#include <algorithm>
#include <cmath>
#include <string>

#include "lowrank/core/error.hpp"

namespace lowrank {

std::uint64_t SplitMixRng::next_u64() {
  std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double SplitMixRng::uniform() { return (double(next_u64() >> 11) + 0.5) * 0x1p-53; }

double SplitMixRng::normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  const double u1 = uniform(), u2 = uniform();
  const double rad = std::sqrt(-2.0 * std::log(u1)), th = 2.0 * M_PI * u2;
  spare_ = rad * std::sin(th);
  have_spare_ = true;
  return rad * std::cos(th);
}

MatrixXd gaussian(Index m, Index n, SplitMixRng& rng) {
  MatrixXd g(m, n);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < m; ++i) g(i, j) = rng.normal();
  return g;
}

MatrixXd haar(Index m, Index k, SplitMixRng& rng) {
  const MatrixXd g = gaussian(m, k, rng);
  Eigen::HouseholderQR<MatrixXd> qr(g);
  MatrixXd q = qr.householderQ() * MatrixXd::Identity(m, k);
  for (Index j = 0; j < k; ++j)
    if (qr.matrixQR()(j, j) < 0) q.col(j) *= -1;
  return q;
}

VectorXd geometric(Index q, double kappa) {
  VectorXd s(q);
  for (Index i = 0; i < q; ++i) s(i) = q == 1 ? 1.0 : std::pow(kappa, -double(i) / double(q - 1));
  return s;
}

MatrixXd latms(Index rows, Index cols, const VectorXd& s, SplitMixRng& rng) {
  const Index q = s.size();
  if (q > std::min(rows, cols))
    throw Error("latms: " + std::to_string(q) + " singular values for a " + shape_str(rows, cols) + " matrix");
  return haar(rows, q, rng) * s.asDiagonal() * haar(cols, q, rng).transpose();
}

}  // namespace lowrank
