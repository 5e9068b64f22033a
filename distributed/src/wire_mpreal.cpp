#include "lowrank/distributed/wire_mpreal.hpp"

#include <mpfr.h>

namespace lowrank::distributed {

// Format: the text of the number, then '\0'. Regular numbers as "[-]0.HHHH@E" (hex digits, E the
// power of 16 in decimal), which mpfr_set_str reads back exactly at the same precision.
void Wire<mpreal>::put(std::string& out, const mpreal& x) {
  mpfr_srcptr v = x.mpfr_srcptr();
  if (!mpfr_regular_p(v)) {
    out += mpfr_zero_p(v) ? (mpfr_signbit(v) ? "-0" : "0") : mpfr_nan_p(v) ? "@NaN@" : (mpfr_signbit(v) ? "-@Inf@" : "@Inf@");
  } else {
    mpfr_exp_t e = 0;
    char* digits = mpfr_get_str(nullptr, &e, 16, 0, v, MPFR_RNDN);
    if (!digits) throw Error("distributed: mpfr_get_str failed");
    std::string d(digits);
    mpfr_free_str(digits);
    const bool neg = !d.empty() && d[0] == '-';
    out += (neg ? "-0." : "0.") + d.substr(neg ? 1 : 0) + "@" + std::to_string(long(e));
  }
  out.push_back('\0');
}

mpreal Wire<mpreal>::get(const char*& p, const char* end) {
  const char* z = static_cast<const char*>(std::memchr(p, '\0', std::size_t(end - p)));
  if (!z) throw Error("distributed: truncated mpreal in a matrix message");
  mpreal x;  // at the default (reference) precision
  if (mpfr_set_str(x.mpfr_ptr(), p, 16, MPFR_RNDN) != 0)
    throw Error("distributed: bad mpreal text '" + std::string(p, z) + "' in a matrix message");
  p = z + 1;
  return x;
}

}  // namespace lowrank::distributed
