#pragma once
// mpreal on the wire: exact (mpfr_get_str in base 16 with as many digits as the precision
// needs), read back at the receiver's precision, which is the same on every rank (--bits).
#include "lowrank/distributed/wire.hpp"
#include "lowrank/reference/mp.hpp"

namespace lowrank::distributed {

template <> struct Wire<mpreal> {
  static void put(std::string& out, const mpreal& x);
  static mpreal get(const char*& p, const char* end);
};

}  // namespace lowrank::distributed
