#pragma once
// Shared pieces of the compressible-dynamics checks (MATH.md section 2; README "Compressible
// dynamics"): the invariant 2r-dimensional subspaces of the start, spectral norms in T, and the
// rounding-accumulation bound used by the invariance and equivalence checks.
#include <string>
#include <vector>

#include "lowrank/dynamics/trainer.hpp"

namespace lowrank::proofs_checks::dyn {

template <class T> double dbl(const T& x) { return ScalarTraits<T>::to_double(x); }

template <class Backend> double spectral_norm(Backend& be, const Mat<typename Backend::Scalar>& M) {
  if (M.size() == 0) return 0.0;
  const auto s = lowrank::detail::singular_values(be, M);
  return s.size() ? dbl(s(0)) : 0.0;
}

// Orthonormal bases Q_l (d x 2r) of the learning subspaces: the row space of W_l that carries
// everything but rho, fixed in time (README "Compressible dynamics", invariance):
// Q_1 = orth([V_Phi, W_{L:1}(0)^T U_Phi]), Q_{l+1} = W_l(0) Q_l / eps.
template <class Backend>
std::vector<Mat<typename Backend::Scalar>> learning_bases(Backend& be, const dynamics::Setup<typename Backend::Scalar>& s,
                                                          const dynamics::ProblemData& p) {
  using T = typename Backend::Scalar;
  const Index d = s.width, r = s.rank;
  Mat<T> P = s.W0[0], next;
  for (Index l = 1; l < s.depth; ++l) {
    be.gemm(false, false, T(1), s.W0[l], P, T(0), next);
    P.swap(next);
  }
  Mat<T> B(d, 2 * r), PtU;
  B.leftCols(r) = p.target_v.cast<T>();
  be.gemm(true, false, T(1), P, Mat<T>(p.target_u.cast<T>()), T(0), PtU);
  B.rightCols(r) = PtU;
  std::vector<Mat<T>> Q{dynamics::orthonormal<T>(B, "learning subspace")};
  for (Index l = 1; l < s.depth; ++l) {
    be.gemm(false, false, T(1) / s.eps, s.W0[l - 1], Q.back(), T(0), next);
    Q.push_back(next);
  }
  return Q;
}

// Rounding accumulated by t steps of gradient descent, first order, no amplification
// (README "Compressible dynamics", bound B): u d (eps + 2 L (t + 1) w), w = max_l ||W_l||_2.
inline double accumulation_bound(double u, Index d, Index L, long t, double eps, double w) {
  return u * double(d) * (eps + 2.0 * double(L) * double(t + 1) * w);
}

}  // namespace lowrank::proofs_checks::dyn

namespace lowrank::proofs_checks {
struct ProveOptions;
struct CheckResult;
CheckResult check_dynamics_invariance(const ProveOptions& opt);
CheckResult check_dynamics_equivalence(const ProveOptions& opt);
CheckResult check_dynamics_completion(const ProveOptions& opt);
}  // namespace lowrank::proofs_checks
