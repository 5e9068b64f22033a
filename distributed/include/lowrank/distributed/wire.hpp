#pragma once
// Matrices as bytes for the tree's messages. float and double travel as their bits (exact); the
// MPFR reference's mpreal as exact base-16 strings (wire_mpreal.hpp). An upper-triangular R
// travels as its n (n + 1) / 2 upper entries, column by column: half the words of a full matrix.
#include <cstdint>
#include <cstring>
#include <string>

#include "lowrank/core/error.hpp"
#include "lowrank/core/matrix.hpp"

namespace lowrank::distributed {

template <class T> struct Wire;  // static void put(std::string&, const T&); static T get(const char*&, const char*)

template <class T> struct IeeeWire {
  static void put(std::string& out, const T& x) { out.append(reinterpret_cast<const char*>(&x), sizeof(T)); }
  static T get(const char*& p, const char* end) {
    if (end - p < std::ptrdiff_t(sizeof(T))) throw Error("distributed: truncated matrix message");
    T x;
    std::memcpy(&x, p, sizeof(T));
    p += sizeof(T);
    return x;
  }
};
template <> struct Wire<float> : IeeeWire<float> {};
template <> struct Wire<double> : IeeeWire<double> {};

// upper = true: only the upper triangle (the rest is zero on arrival).
template <class T> std::string pack_matrix(const Mat<T>& M, bool upper) {
  std::string out;
  const std::int64_t dims[2] = {M.rows(), M.cols()};
  out.append(reinterpret_cast<const char*>(dims), sizeof dims);
  out.push_back(upper ? 1 : 0);
  for (Index j = 0; j < M.cols(); ++j)
    for (Index i = 0; i < (upper ? std::min(j + 1, M.rows()) : M.rows()); ++i) Wire<T>::put(out, M(i, j));
  return out;
}

template <class T> Mat<T> unpack_matrix(const std::string& bytes) {
  const char* p = bytes.data();
  const char* end = p + bytes.size();
  std::int64_t dims[2];
  if (bytes.size() < sizeof dims + 1) throw Error("distributed: truncated matrix message");
  std::memcpy(dims, p, sizeof dims);
  p += sizeof dims;
  const bool upper = *p++ != 0;
  Mat<T> M = Mat<T>::Zero(dims[0], dims[1]);
  for (Index j = 0; j < M.cols(); ++j)
    for (Index i = 0; i < (upper ? std::min<Index>(j + 1, M.rows()) : M.rows()); ++i) M(i, j) = Wire<T>::get(p, end);
  if (p != end) throw Error("distributed: matrix message longer than its shape");
  return M;
}

}  // namespace lowrank::distributed
