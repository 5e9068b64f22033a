#pragma once
// What the algorithms need to know about a scalar type beyond Eigen: its unit roundoff, how to
// print it in full, how to round it to double. float and double here; mpreal in reference/.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

namespace lowrank {

template <class T> struct ScalarTraits;

template <class T> struct IeeeScalarTraits {
  static std::string name() { return sizeof(T) == 4 ? "float32" : "float64"; }
  static T unit_roundoff() { return std::numeric_limits<T>::epsilon() / 2; }
  static double to_double(const T& x) { return static_cast<double>(x); }
  static std::string to_decimal(const T& x, int digits = 40) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.*e", std::min(digits, std::numeric_limits<T>::max_digits10) - 1,
                  static_cast<double>(x));
    return buf;
  }
  static int bits() { return std::numeric_limits<T>::digits; }
};
template <> struct ScalarTraits<float> : IeeeScalarTraits<float> {};
template <> struct ScalarTraits<double> : IeeeScalarTraits<double> {};

}  // namespace lowrank
