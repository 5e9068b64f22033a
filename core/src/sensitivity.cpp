#include "lowrank/core/sensitivity.hpp"

#include <Eigen/QR>
#include <Eigen/SVD>
#include <cmath>
#include <limits>

#include "lowrank/core/error.hpp"

namespace lowrank {

using LMat = ForwardSensitivity::LMat;

namespace {
// qr_R of a stack, upper triangle of the top min(rows, n) rows, padded to n x n.
LMat triangle(const LMat& S, Index n) {
  Eigen::HouseholderQR<LMat> qr(S);
  LMat R = LMat::Zero(n, n);
  const Index k = std::min<Index>(S.rows(), n);
  R.topRows(k) = qr.matrixQR().topRows(k).template triangularView<Eigen::Upper>();
  return R;
}
}  // namespace

ForwardSensitivity::ForwardSensitivity(const MatrixXd& W, RowBlockSource& X, double mu, Index rank)
    : W_(W.cast<long double>()), m_(W.rows()), n_(W.cols()), r_(rank) {
  if (X.cols() != n_) throw Error("sensitivity: X has " + std::to_string(X.cols()) + " features, W " + std::to_string(n_));
  // R by a long double TSQR of X's blocks.
  LMat R(0, n_);
  MatrixXd block;
  X.reset();
  while (X.next(std::max<Index>(4 * n_, 256), block)) {
    LMat S(R.rows() + block.rows(), n_);
    S << R, block.cast<long double>();
    R = triangle(S, n_);
  }
  if (R.rows() < n_) R = LMat::Zero(n_, n_);
  R_ = R;
  d_ = R_.colwise().norm().transpose();
  if (mu > 0) {
    LMat S(2 * n_, n_);
    S << R_, std::sqrt(static_cast<long double>(mu)) * LMat::Identity(n_, n_);
    Rmu_ = triangle(S, n_);
    // C = R R_mu^{-1}: solve C R_mu = R, i.e. R_mu^T C^T = R^T.
    C_ = Rmu_.transpose().triangularView<Eigen::Lower>().solve(R_.transpose()).transpose();
  } else {
    Rmu_ = R_;
    C_ = LMat::Identity(n_, n_);
  }
  wF_ = W_.norm();
  const LMat M = W_ * Rmu_.transpose();
  Eigen::JacobiSVD<LMat> svd(M, Eigen::ComputeFullU | Eigen::ComputeFullV);
  U_ = svd.matrixU();
  V_ = svd.matrixV();
  s_ = svd.singularValues();
  s1_ = s_.size() ? s_(0) : 0.0L;
  const Index k = s_.size();
  // A tie at the cut, or (m > n, r = n) s_r = 0 where every K_ji would divide by 0: no finite
  // derivative.
  tie_ = r_ >= 1 && ((r_ < k && !(s_(r_ - 1) > s_(r_))) || !(s_(std::min(r_, k) - 1) > 0));
  const LMat Ur = U_.leftCols(r_);
  Wstar_ = Ur * (Ur.transpose() * W_);
}

LMat ForwardSensitivity::apply(const LMat& EW, const LMat& H, const LMat& EM) const {
  const LMat dW = wF_ * EW;
  const LMat dM = dW * Rmu_.transpose() + W_ * (d_.asDiagonal() * H * C_) + s1_ * EM;
  const LMat a = U_.transpose() * dM * V_;  // m x n
  const Index c = m_ - r_;
  LMat K(c, r_);
  for (Index i = 0; i < r_; ++i) {
    const long double si = sv(i);
    for (Index jj = 0; jj < c; ++jj) {
      const Index j = r_ + jj;
      const long double sj = sv(j);
      const long double aij = j < n_ ? a(i, j) : 0.0L;
      K(jj, i) = (si * a(j, i) + sj * aij) / ((si - sj) * (si + sj));
    }
  }
  const LMat Ur = U_.leftCols(r_), Uc = U_.rightCols(c);
  const LMat dP = Uc * K * Ur.transpose() + Ur * K.transpose() * Uc.transpose();
  return dP * W_ + Ur * (Ur.transpose() * dW);
}

void ForwardSensitivity::adjoint(const LMat& Y, LMat& EW, LMat& H, LMat& EM) const {
  const Index c = m_ - r_;
  const LMat Ur = U_.leftCols(r_), Uc = U_.rightCols(c);
  // dW' = dP W + P dW:  dP-bar = Y W^T, dW-bar = P Y.
  const LMat Pbar = Y * W_.transpose();
  const LMat dWbar = Ur * (Ur.transpose() * Y);
  // dP = Uc K Ur^T + Ur K^T Uc^T:  K-bar = Uc^T (Pbar + Pbar^T) Ur.
  const LMat Kbar = Uc.transpose() * (Pbar + Pbar.transpose()) * Ur;
  // K_ji = c1 a_ji + c2 a_ij.
  LMat abar = LMat::Zero(m_, n_);
  for (Index i = 0; i < r_; ++i) {
    const long double si = sv(i);
    for (Index jj = 0; jj < c; ++jj) {
      const Index j = r_ + jj;
      const long double sj = sv(j), den = (si - sj) * (si + sj);
      abar(j, i) += si / den * Kbar(jj, i);
      if (j < n_) abar(i, j) += sj / den * Kbar(jj, i);  // a_ij enters only where column j exists
    }
  }
  // a = U^T dM V:  dM-bar = U abar V^T.
  const LMat dMbar = U_ * abar * V_.transpose();
  // dM = wF EW Rmu^T + W D H C + s1 EM, plus dW' = ... + P (wF EW).
  EW = wF_ * (dMbar * Rmu_ + dWbar);
  H = d_.asDiagonal() * (W_.transpose() * dMbar * C_.transpose());
  EM = s1_ * dMbar;
}

double ForwardSensitivity::norm(int max_iterations, std::uint64_t seed) const {
  if (r_ == 0) return 0.0;
  if (tie_) return std::numeric_limits<double>::infinity();
  // Seeded start (splitmix64), all three blocks.
  std::uint64_t z = seed;
  auto rnd = [&z]() {
    z += 0x9e3779b97f4a7c15ULL;
    std::uint64_t x = z;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return static_cast<long double>(x >> 11) * 0x1p-53L - 0.5L;
  };
  LMat EW(m_, n_), H(n_, n_), EM(m_, n_);
  for (Index i = 0; i < EW.size(); ++i) EW.data()[i] = rnd();
  for (Index i = 0; i < H.size(); ++i) H.data()[i] = rnd();
  for (Index i = 0; i < EM.size(); ++i) EM.data()[i] = rnd();
  long double est = 0;
  iterations_ = 0;
  for (int it = 0; it < max_iterations; ++it) {
    const long double len = std::sqrt(EW.squaredNorm() + H.squaredNorm() + EM.squaredNorm());
    if (!(len > 0)) return 0.0;
    EW /= len;
    H /= len;
    EM /= len;
    const LMat Y = apply(EW, H, EM);
    const long double next = Y.norm();
    adjoint(Y, EW, H, EM);
    iterations_ = it + 1;
    if (it > 2 && std::fabs(next - est) <= 1e-8L * next) {
      est = next;
      break;
    }
    est = next;
  }
  return static_cast<double>(est);
}

double ForwardSensitivity::kappa() const {
  const double nrm = norm();
  const long double w = Wstar_.norm();
  if (!std::isfinite(nrm)) return nrm;
  return w > 0 ? static_cast<double>(nrm / w) : 0.0;
}

}  // namespace lowrank
