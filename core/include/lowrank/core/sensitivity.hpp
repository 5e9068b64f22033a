#pragma once
// The structured forward condition number of W'_* (ratio version 2; derivation in
// core/README.md, "Ratio version 2"): the norm of the Frechet derivative of the map
// (W, X) -> W'_* = U_r U_r^T W, U_r the top-r left singular vectors of W X_mu, under the backward
// errors a stable method commits, in units of u:
//   dW = ||W||_F E_W                (||W|| normwise: storage, the product W R^T)
//   dX = D E, D = diag(||x_i||)     (columnwise: storage and Householder QR/TSQR, per feature)
//   dM = s_1(M) E_M                 (the SVD's normwise backward error on M = W R_mu^T)
// with (E_W, E, E_M) in the joint unit ball ||E_W||_F^2 + ||E||_F^2 + ||E_M||_F^2 <= 1 (one joint
// ball, not three separate ones: a model with ||dx_i|| <= u ||x_i|| for every feature separately
// allows ||E||_F up to sqrt(n), and the SVD's ||dM||_2 <= u s_1 allows ||E_M||_F up to
// sqrt(min(m, n)); those dimension factors are what the checker's d = sqrt(max(m, n)) and the
// threshold 30 absorb, as for every ratio of LAPACK's testers). Everything is reduced exactly to n x n: with
// X_mu^T = Q_mu R_mu and Q_mu = [Q_1; Q_2], only dX Q_1 reaches W'_*, and {E Q_1 : ||E||_F <= 1}
// = {H C : ||H||_F <= 1} with C = R R_mu^{-1} (C = I when mu = 0), so
//   dM_red = ||W||_F E_W R_mu^T + W D H C + s_1 E_M,   M_red = W R_mu^T = U S V^T,
//   dP = U_c K U_r^T + U_r K^T U_c^T,  K_ji = (s_i a_ji + s_j a_ij) / (s_i^2 - s_j^2),  a = U^T dM_red V
//   (i <= r < j; s_j = 0 beyond min(m, n); a_ij = 0 beyond n),
//   dW'_* = dP W + P dW.
// The norm comes from power iteration on J^T J with the explicit adjoint. Computed in long double
// from W and X (a long double TSQR of X, a Jacobi SVD of M_red).
#include <cstdint>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {

class ForwardSensitivity {
 public:
  using LMat = Mat<long double>;
  ForwardSensitivity(const MatrixXd& W, RowBlockSource& X, double mu, Index rank);

  // J applied to a direction (E_W m x n, H n x n, E_M m x n): dW'_* (m x n), first order.
  LMat apply(const LMat& EW, const LMat& H, const LMat& EM) const;
  // J^T applied to Y (m x n).
  void adjoint(const LMat& Y, LMat& EW, LMat& H, LMat& EM) const;
  // ||J|| (power iteration from a seeded start until the estimate settles to 1e-8, at most
  // `max_iterations`); kappa = ||J|| / ||W'_*||_F (infinite when s_r = s_{r+1}; 0 when r = 0).
  double norm(int max_iterations = 200, std::uint64_t seed = 7) const;
  double kappa() const;
  int iterations() const { return iterations_; }

  // The reduced quantities, for tests.
  const LMat& R() const { return R_; }
  const LMat& Rmu() const { return Rmu_; }
  const LMat& C() const { return C_; }
  const Vec<long double>& feature_norms() const { return d_; }
  const LMat& W_star() const { return Wstar_; }

 private:
  LMat W_, R_, Rmu_, C_, U_, V_, Wstar_;
  Vec<long double> d_, s_;
  long double wF_ = 0, s1_ = 0;
  Index m_ = 0, n_ = 0, r_ = 0;
  bool tie_ = false;
  mutable int iterations_ = 0;
  long double sv(Index j) const { return j < s_.size() ? s_(j) : 0.0L; }
};

}  // namespace lowrank
