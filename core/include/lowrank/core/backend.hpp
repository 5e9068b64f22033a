#pragma once
// The backend seam: what a linear-algebra backend provides, in one place, checked at compile time.
// The one driver (driver.hpp) runs every method over it; the deep-factorization trainer
// (dynamics/trainer.hpp) uses its gemm and svd. Backends: ReferenceBackend (MPFR, reference/),
// CpuBackend<float|double> (LAPACK/OpenBLAS, fast/cpu), CudaBackend<float|double> (cuSOLVER/cuBLAS,
// fast/cuda); each states check_solve_backend<B>() and check_train_backend<B>() in a static_assert
// beside its definition, and the driver and the trainer assert them again where they are used.
//
// A solve backend over scalar T provides
//   using Scalar = T;
//   std::string name() const;  std::string precision() const;
// (accumulate_* read X through BlockReader<T>, row_source.hpp: the one block loop, with its
// "delivered k of N rows" check)
//   Mat<T> accumulate_r(RowBlockSource& X, Index block_rows);     // R (n x n), R^T R = X X^T
//   Mat<T> accumulate_gram(RowBlockSource& X, Index block_rows);  // G = X X^T, working precision
//   Mat<T> stack_r(const Mat<T>& R, const Mat<T>& rows);          // qr_R([R; rows])
//   ThinSvd<T> svd(const Mat<T>& M);                              // thin, s descending
//   SymEig<T> eigh(const Mat<T>& G);                              // eigenvalues ascending
//   bool cholesky_lower(const Mat<T>& G, Mat<T>& L);              // false on breakdown
//   Mat<T> inverse(const Mat<T>& M);                              // explicit (LU) inverse
//   void gemm(bool ta, bool tb, T alpha, const Mat<T>& A, const Mat<T>& B, T beta, Mat<T>& C);
//     // C = alpha op(A) op(B) + beta C; beta == 0 resizes C and never reads it; C shares no
//     // storage with A or B. Every product of the driver goes through it (driver.hpp).
// and optionally, where it has cheaper value-only routines (the numerical rank of X needs no
// vectors):
//   Vec<T> singular_values(const Mat<T>& M);                      // descending
//   Vec<T> eigenvalues(const Mat<T>& G);                          // ascending
// A training backend (dynamics/) provides Scalar, svd and gemm.
//
// Errors: an operation that fails on the data it was given (a NaN reaching an SVD, LAPACK's
// info != 0) throws lowrank::Breakdown or Error (error.hpp); cholesky_lower reports an indefinite
// matrix by returning false, as the Gram methods' own code expects.
#include <string>
#include <type_traits>
#include <utility>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {

template <class T> struct ThinSvd {
  Mat<T> U;  // m x k
  Vec<T> s;  // k, descending
  Mat<T> V;  // n x k
};
template <class T> struct SymEig {
  Vec<T> values;   // ascending
  Mat<T> vectors;  // columns
};

namespace backend_ops {

template <class B> using S = typename B::Scalar;
template <class B> B& be();
template <class B> const Mat<S<B>>& cm();
template <class B> Mat<S<B>>& m();

template <class B> using name = decltype(std::declval<const B&>().name());
template <class B> using precision = decltype(std::declval<const B&>().precision());
template <class B> using accumulate_r = decltype(be<B>().accumulate_r(std::declval<RowBlockSource&>(), Index{}));
template <class B> using accumulate_gram = decltype(be<B>().accumulate_gram(std::declval<RowBlockSource&>(), Index{}));
template <class B> using stack_r = decltype(be<B>().stack_r(cm<B>(), cm<B>()));
template <class B> using svd = decltype(be<B>().svd(cm<B>()));
template <class B> using eigh = decltype(be<B>().eigh(cm<B>()));
template <class B> using cholesky_lower = decltype(be<B>().cholesky_lower(cm<B>(), m<B>()));
template <class B> using inverse = decltype(be<B>().inverse(cm<B>()));
template <class B> using singular_values = decltype(be<B>().singular_values(cm<B>()));
template <class B> using eigenvalues = decltype(be<B>().eigenvalues(cm<B>()));
template <class B>
using gemm = decltype(be<B>().gemm(false, false, std::declval<const S<B>&>(), cm<B>(), cm<B>(),
                                   std::declval<const S<B>&>(), m<B>()));

// provides<Op, B, R>: B has operation Op and it returns exactly R.
template <template <class> class Op, class B, class R, class = void> struct provides : std::false_type {};
template <template <class> class Op, class B, class R>
struct provides<Op, B, R, std::void_t<Op<B>>> : std::is_same<Op<B>, R> {};
template <template <class> class Op, class B, class = void> struct has : std::false_type {};
template <template <class> class Op, class B> struct has<Op, B, std::void_t<Op<B>>> : std::true_type {};

template <class B, class = void> struct has_scalar : std::false_type {};
template <class B> struct has_scalar<B, std::void_t<typename B::Scalar>> : std::true_type {};

}  // namespace backend_ops

// The optional value-only routines (driver.hpp falls back to svd(M).s, eigh(G).values).
template <class B> inline constexpr bool has_singular_values_v = backend_ops::has<backend_ops::singular_values, B>::value;
template <class B> inline constexpr bool has_eigenvalues_v = backend_ops::has<backend_ops::eigenvalues, B>::value;

// True when B is a solve backend; each missing or mistyped operation is named by its own assert.
template <class B> constexpr bool check_solve_backend() {
  namespace o = backend_ops;
  static_assert(o::has_scalar<B>::value, "a backend declares `using Scalar = T;`");
  using T = typename B::Scalar;
  static_assert(o::provides<o::name, B, std::string>::value, "backend: std::string name() const");
  static_assert(o::provides<o::precision, B, std::string>::value, "backend: std::string precision() const");
  static_assert(o::provides<o::accumulate_r, B, Mat<T>>::value, "backend: Mat<T> accumulate_r(RowBlockSource&, Index)");
  static_assert(o::provides<o::accumulate_gram, B, Mat<T>>::value, "backend: Mat<T> accumulate_gram(RowBlockSource&, Index)");
  static_assert(o::provides<o::stack_r, B, Mat<T>>::value, "backend: Mat<T> stack_r(const Mat<T>&, const Mat<T>&)");
  static_assert(o::provides<o::svd, B, ThinSvd<T>>::value, "backend: ThinSvd<T> svd(const Mat<T>&)");
  static_assert(o::provides<o::eigh, B, SymEig<T>>::value, "backend: SymEig<T> eigh(const Mat<T>&)");
  static_assert(o::provides<o::cholesky_lower, B, bool>::value, "backend: bool cholesky_lower(const Mat<T>&, Mat<T>&)");
  static_assert(o::provides<o::inverse, B, Mat<T>>::value, "backend: Mat<T> inverse(const Mat<T>&)");
  static_assert(o::provides<o::gemm, B, void>::value,
                "backend: void gemm(bool, bool, T alpha, const Mat<T>&, const Mat<T>&, T beta, Mat<T>&)");
  static_assert(!has_singular_values_v<B> || o::provides<o::singular_values, B, Vec<T>>::value,
                "backend: the optional singular_values(const Mat<T>&) returns Vec<T>");
  static_assert(!has_eigenvalues_v<B> || o::provides<o::eigenvalues, B, Vec<T>>::value,
                "backend: the optional eigenvalues(const Mat<T>&) returns Vec<T>");
  return true;
}

// True when B can run the deep-factorization trainer (dynamics/trainer.hpp).
template <class B> constexpr bool check_train_backend() {
  namespace o = backend_ops;
  static_assert(o::has_scalar<B>::value, "a backend declares `using Scalar = T;`");
  using T = typename B::Scalar;
  static_assert(o::provides<o::svd, B, ThinSvd<T>>::value, "backend: ThinSvd<T> svd(const Mat<T>&)");
  static_assert(o::provides<o::gemm, B, void>::value,
                "backend: void gemm(bool, bool, T alpha, const Mat<T>&, const Mat<T>&, T beta, Mat<T>&)");
  return true;
}

}  // namespace lowrank
