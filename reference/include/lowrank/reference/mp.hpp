#pragma once
// MPFR scalars through mpreal with Eigen's MPRealSupport (Eigen's decompositions templated on
// the scalar serve every precision).
#include <unsupported/Eigen/MPRealSupport>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/scalar.hpp"

namespace lowrank {

using mpfr::mpreal;
using MatrixMP = Mat<mpreal>;
using VectorMP = Vec<mpreal>;

// Sets the working precision of every mpreal created afterwards (bits, 64..4096 accepted).
// Process-wide (MPFR's default precision, per thread): prefer a ReferenceBackend constructed
// with its bits, or a ReferencePrecision scope, which put the precision back when they end.
void set_reference_bits(int bits);
int reference_bits();

// The reference precision as a value with a lifetime: sets MPFR's default precision to `bits`
// (64..4096, else lowrank::Error naming --bits) for as long as it lives and restores the previous
// one when it ends (also on an exception). Scopes nest; they must end in reverse order of
// creation, as automatic variables and members do.
class ReferencePrecision {
 public:
  explicit ReferencePrecision(int bits);
  // A scope at the precision current now (not validated: MPFR's own default of 53 bits stays 53).
  static ReferencePrecision current() { return ReferencePrecision(); }
  ~ReferencePrecision();
  ReferencePrecision(const ReferencePrecision&) = delete;
  ReferencePrecision& operator=(const ReferencePrecision&) = delete;
  int bits() const { return bits_; }

 private:
  ReferencePrecision();
  int bits_;
  long saved_;  // mpfr_prec_t of the enclosing scope (may be below 64: MPFR's own default is 53)
};

template <> struct ScalarTraits<mpreal> {
  static std::string name() { return "mpfr" + std::to_string(mpreal::get_default_prec()); }
  // u = 2^-p for round-to-nearest with a p-bit significand.
  static mpreal unit_roundoff() { return mpfr::ldexp(mpreal(1), -int(mpreal::get_default_prec())); }
  static double to_double(const mpreal& x) { return x.toDouble(); }
  static std::string to_decimal(const mpreal& x, int digits = 40) {
    return x.toString("%." + std::to_string(digits - 1) + "Re");
  }
  static int bits() { return int(mpreal::get_default_prec()); }
};

inline MatrixMP to_mp(const MatrixXd& m) { return m.cast<mpreal>(); }
// Rounds once to double (round to nearest).
inline MatrixXd to_double(const MatrixMP& m) {
  MatrixXd out(m.rows(), m.cols());
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i) out(i, j) = m(i, j).toDouble();
  return out;
}

}  // namespace lowrank
