#pragma once
// The reference backend's in-place MPFR storage, shared by its QR (backend.cpp) and SVD (svd.cpp).
#include <mpfr.h>

#include <cstddef>
#include <vector>

#include "lowrank/core/matrix.hpp"

namespace lowrank::reference_detail {

// A column-major block of MPFR numbers at one precision, all significands in one contiguous
// buffer (MPFR's custom interface): no allocation per number, good locality, and no heap
// traffic in the kernels below (Eigen's generic kernels over mpreal create a temporary per
// operation).
class MpfrBlock {
 public:
  MpfrBlock(Index rows, Index cols, mpfr_prec_t prec) : rows_(rows), cols_(cols) {
    const std::size_t bytes = mpfr_custom_get_size(prec);
    const std::size_t limbs = (bytes + sizeof(mp_limb_t) - 1) / sizeof(mp_limb_t);
    const std::size_t count = std::size_t(rows) * std::size_t(cols);
    limbs_.resize(count * limbs);
    nums_.resize(count);
    for (std::size_t k = 0; k < count; ++k) {
      mp_limb_t* m = limbs_.data() + k * limbs;
      mpfr_custom_init(m, prec);
      mpfr_custom_init_set(&nums_[k], MPFR_ZERO_KIND, 0, prec, m);
    }
  }
  mpfr_ptr operator()(Index i, Index j) { return &nums_[std::size_t(i) + std::size_t(j) * std::size_t(rows_)]; }
  Index rows() const { return rows_; }
  Index cols() const { return cols_; }

 private:
  Index rows_, cols_;
  std::vector<mp_limb_t> limbs_;
  std::vector<__mpfr_struct> nums_;
};

// A few scalars with the usual init/clear lifetime.
struct MpfrScalars {
  static constexpr int count = 4;
  mpfr_t v[count];
  explicit MpfrScalars(mpfr_prec_t prec) {
    for (auto& x : v) mpfr_init2(x, prec);
  }
  ~MpfrScalars() {
    for (auto& x : v) mpfr_clear(x);
  }
};

// A Householder reflector H = I - tau v v^T (v_0 = 1) mapping x = (alpha, tail) to (beta, 0):
// LAPACK dlarfg's convention (and Eigen's makeHouseholder). x[0] becomes beta, x[1..] becomes
// v[1..]; tau is left in `tau` (0 when the tail is already zero: H = I, x untouched); norm and
// scal are scratch. The QR (backend.cpp) and the SVD's bidiagonalization (svd.cpp) use it.
inline void householder(const std::vector<mpfr_ptr>& x, mpfr_ptr tau, mpfr_ptr norm, mpfr_ptr scal) {
  mpfr_set_zero(norm, 1);
  for (std::size_t i = 1; i < x.size(); ++i) mpfr_fma(norm, x[i], x[i], norm, MPFR_RNDN);
  if (mpfr_zero_p(norm)) {
    mpfr_set_zero(tau, 1);
    return;
  }
  mpfr_ptr alpha = x[0];
  mpfr_fma(norm, alpha, alpha, norm, MPFR_RNDN);
  mpfr_sqrt(norm, norm, MPFR_RNDN);
  if (mpfr_sgn(alpha) >= 0) mpfr_neg(norm, norm, MPFR_RNDN);  // beta = -sign(alpha) ||x||
  mpfr_sub(tau, norm, alpha, MPFR_RNDN);
  mpfr_div(tau, tau, norm, MPFR_RNDN);  // tau = (beta - alpha) / beta
  mpfr_sub(scal, alpha, norm, MPFR_RNDN);
  mpfr_ui_div(scal, 1, scal, MPFR_RNDN);  // 1 / (alpha - beta)
  for (std::size_t i = 1; i < x.size(); ++i) mpfr_mul(x[i], x[i], scal, MPFR_RNDN);
  mpfr_set(alpha, norm, MPFR_RNDN);
}

}  // namespace lowrank::reference_detail
