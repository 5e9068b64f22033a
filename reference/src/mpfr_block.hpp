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
  static constexpr int count = 6;
  mpfr_t v[count];
  explicit MpfrScalars(mpfr_prec_t prec) {
    for (auto& x : v) mpfr_init2(x, prec);
  }
  ~MpfrScalars() {
    for (auto& x : v) mpfr_clear(x);
  }
};

}  // namespace lowrank::reference_detail
