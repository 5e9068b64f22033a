#pragma once
// The backend seam: what a linear-algebra backend provides, in one place, checked at compile time.
// The one driver (driver.hpp) runs every method over it; the deep-factorization trainer
// (dynamics/trainer.hpp) its products, SVD and two element-wise step operations. Backends: ReferenceBackend (MPFR, reference/),
// CpuBackend<float|double> (LAPACK/OpenBLAS, fast/cpu), CudaBackend<float|double> (cuSOLVER/cuBLAS,
// fast/cuda); each states check_solve_backend<B>() and check_train_backend<B>() in a static_assert
// beside its definition, and the driver and the trainer assert them again where they are used.
//
// A solve backend over scalar T works on matrices of its own type, Matrix: Mat<T> (host memory)
// for the CPU and reference backends, a device matrix for CUDA. The driver holds Matrix values
// from the upload of W to the download of A and B, so on a device backend every O(m n^2) and
// O(n^3) step and every O(m n) step runs where the data are. What crosses to the host: W and the
// activation blocks going in; A, B and O(n) vectors (singular values, diagonals, column norms)
// coming out. tests/cpu/product_count_test.cpp (DeviceResident) runs every method over a backend
// whose Matrix has no element access and counts those transfers.
//
// A solve backend provides
//   using Scalar = T;  using Matrix = ...;      // Matrix has rows() and cols()
//   std::string name() const;  std::string precision() const;
// (accumulate_* read X through BlockReader<T>, row_source.hpp: the one block loop, with its
// "delivered k of N rows" check)
//   Matrix accumulate_r(RowBlockSource& X, Index block_rows);     // R (n x n), R^T R = X X^T
//   Matrix accumulate_gram(RowBlockSource& X, Index block_rows);  // G = X X^T, working precision
//   Matrix stack_r(const Matrix& R, const Matrix& rows);          // qr_R([R; rows])
//   ThinSvd<T, Matrix> svd(const Matrix& M);                      // thin, s descending
//   SymEig<T, Matrix> eigh(const Matrix& G);                      // eigenvalues ascending
//   bool cholesky_lower(const Matrix& G, Matrix& L);              // false on breakdown
//   Matrix inverse(const Matrix& M);                              // explicit (LU) inverse
//   void gemm(bool ta, bool tb, T alpha, const Matrix& A, const Matrix& B, T beta, Matrix& C);
//     // C = alpha op(A) op(B) + beta C; beta == 0 resizes C and never reads it; C shares no
//     // storage with A or B. Every product of the driver goes through it (driver.hpp).
// the moves between host and backend
//   Matrix upload(const Mat<T>&);  Mat<T> download(const Matrix&);
// and the O(m n) pieces of the methods and the report (host_matrix.hpp has them for Mat<T>)
//   Matrix copy(const Matrix&);  Matrix zeros(Index rows, Index cols);
//   Matrix left_cols(const Matrix&, Index k);  Matrix hcat(const Matrix& A, const Matrix& B);
//   void scale_columns(Matrix& M, const Vec<T>& d);   // M diag(d)
//   void scale_rows(Matrix& M, const Vec<T>& d);      // diag(d) M
//   void add_diagonal(Matrix& M, T a);                // M(i, i) += a, i < min(rows, cols)
//   Vec<T> diagonal(const Matrix&);
//   std::vector<double> column_sq_norms(const Matrix&);  // ||M(:, j)||^2, summed in double
//   T squared_norm(const Matrix&);  T dot(const Matrix& A, const Matrix& B);  // sum A .* B
//   bool all_finite(const Matrix&);
// and optionally, where it has cheaper value-only routines (the numerical rank of X needs no
// vectors):
//   Vec<T> singular_values(const Matrix& M);                      // descending
//   Vec<T> eigenvalues(const Matrix& G);                          // ascending
// A training backend (dynamics/trainer.hpp) is a solve backend's Scalar, Matrix, svd, gemm, the
// moves, copy, left_cols, squared_norm (and singular_values, optional, as above), plus the two
// element-wise pieces of a gradient step (one pass over d^2 numbers each):
//   void axpby(T alpha, const Matrix& X, T beta, Matrix& Y);   // Y = alpha X + beta Y, X != Y
//   ResidualSums<T> masked_residual(const Matrix& P, const Matrix& Phi, const Matrix& mask, T c,
//                                   Matrix& E);
//     // E = c mask .* (P - Phi), mask's entries exactly 0 or 1 (an empty mask: all ones);
//     // returns sum mask .* (P - Phi)^2 and sum (1 - mask) .* (P - Phi)^2 (the latter = the
//     // former under an empty mask)
// The trainer holds Matrix values from the upload of the start to the download of the product, so
// a step on a device backend moves nothing but the two sums.
//
// Errors: an operation that fails on the data it was given (a NaN reaching an SVD, LAPACK's
// info != 0) throws lowrank::Breakdown or Error (error.hpp); cholesky_lower reports an indefinite
// matrix by returning false, as the Gram methods' own code expects.
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "lowrank/core/error.hpp"
#include "lowrank/core/matrix.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {

// Factors in the backend's matrix type M (Mat<T> on the host); values always on the host.
template <class T, class M = Mat<T>> struct ThinSvd {
  M U;       // m x k
  Vec<T> s;  // k, descending
  M V;       // n x k
};
// The SVD of M from that of the matrix a backend factored: M itself, or M^T when `transposed`
// (routines that need m >= n factor a wide M as M^T; then U and V swap).
template <class T, class M> ThinSvd<T, M> oriented_svd(M U, Vec<T> s, M V, bool transposed) {
  if (transposed) std::swap(U, V);
  return ThinSvd<T, M>{std::move(U), std::move(s), std::move(V)};
}
template <class T, class M = Mat<T>> struct SymEig {
  Vec<T> values;  // ascending
  M vectors;      // columns
};

// What masked_residual returns: the squared residual on the observed and on the unobserved entries.
template <class T> struct ResidualSums {
  T seen, unseen;
};

// The shape checks of axpby and masked_residual, one for every backend's matrix type.
template <class M> void check_axpby_shapes(const M& X, const M& Y) {
  if (X.rows() != Y.rows() || X.cols() != Y.cols())
    throw Error("axpby: " + shape_str(X.rows(), X.cols()) + " into " + shape_str(Y.rows(), Y.cols()));
}
template <class M> void check_masked_residual_shapes(const M& P, const M& Phi, const M& mask) {
  const bool full = mask.size() == 0;
  if (P.rows() != Phi.rows() || P.cols() != Phi.cols() ||
      (!full && (mask.rows() != P.rows() || mask.cols() != P.cols())))
    throw Error("masked_residual: P " + shape_str(P.rows(), P.cols()) + ", Phi " + shape_str(Phi.rows(), Phi.cols()) +
                ", mask " + shape_str(mask.rows(), mask.cols()));
}

namespace backend_ops {

template <class B> using S = typename B::Scalar;
template <class B> using M = typename B::Matrix;
template <class B> B& be();
template <class B> const M<B>& cm();       // the backend's matrices
template <class B> M<B>& m();
template <class B> const Mat<S<B>>& chm();  // host matrices
template <class B> Mat<S<B>>& hm();
template <class B> const Vec<S<B>>& cv();
template <class B> const S<B>& cs();

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
template <class B> using gemm = decltype(be<B>().gemm(false, false, cs<B>(), cm<B>(), cm<B>(), cs<B>(), m<B>()));
template <class B> using upload = decltype(be<B>().upload(chm<B>()));
template <class B> using download = decltype(be<B>().download(cm<B>()));
template <class B> using copy = decltype(be<B>().copy(cm<B>()));
template <class B> using zeros = decltype(be<B>().zeros(Index{}, Index{}));
template <class B> using left_cols = decltype(be<B>().left_cols(cm<B>(), Index{}));
template <class B> using hcat = decltype(be<B>().hcat(cm<B>(), cm<B>()));
template <class B> using scale_columns = decltype(be<B>().scale_columns(m<B>(), cv<B>()));
template <class B> using scale_rows = decltype(be<B>().scale_rows(m<B>(), cv<B>()));
template <class B> using add_diagonal = decltype(be<B>().add_diagonal(m<B>(), cs<B>()));
template <class B> using diagonal = decltype(be<B>().diagonal(cm<B>()));
template <class B> using column_sq_norms = decltype(be<B>().column_sq_norms(cm<B>()));
template <class B> using squared_norm = decltype(be<B>().squared_norm(cm<B>()));
template <class B> using dot = decltype(be<B>().dot(cm<B>(), cm<B>()));
template <class B> using all_finite = decltype(be<B>().all_finite(cm<B>()));
template <class B> using rows = decltype(cm<B>().rows());
template <class B> using cols = decltype(cm<B>().cols());
// the trainer's element-wise pieces
template <class B> using axpby = decltype(be<B>().axpby(cs<B>(), cm<B>(), cs<B>(), m<B>()));
template <class B>
using masked_residual = decltype(be<B>().masked_residual(cm<B>(), cm<B>(), cm<B>(), cs<B>(), m<B>()));

// provides<Op, B, R>: B has operation Op and it returns exactly R.
template <template <class> class Op, class B, class R, class = void> struct provides : std::false_type {};
template <template <class> class Op, class B, class R>
struct provides<Op, B, R, std::void_t<Op<B>>> : std::is_same<Op<B>, R> {};
template <template <class> class Op, class B, class = void> struct has : std::false_type {};
template <template <class> class Op, class B> struct has<Op, B, std::void_t<Op<B>>> : std::true_type {};

template <class B, class = void> struct has_scalar : std::false_type {};
template <class B> struct has_scalar<B, std::void_t<typename B::Scalar>> : std::true_type {};
template <class B, class = void> struct has_matrix : std::false_type {};
template <class B> struct has_matrix<B, std::void_t<typename B::Matrix>> : std::true_type {};

}  // namespace backend_ops

// The backend's matrix type.
template <class B> using matrix_t = typename B::Matrix;
// True for backends whose matrices are host Eigen matrices (no transfers needed).
template <class B> inline constexpr bool host_resident_v = std::is_same_v<matrix_t<B>, Mat<typename B::Scalar>>;

// The optional value-only routines (driver.hpp falls back to svd(M).s, eigh(G).values).
template <class B> inline constexpr bool has_singular_values_v = backend_ops::has<backend_ops::singular_values, B>::value;
template <class B> inline constexpr bool has_eigenvalues_v = backend_ops::has<backend_ops::eigenvalues, B>::value;

// True when B is a solve backend; each missing or mistyped operation is named by its own assert.
template <class B> constexpr bool check_solve_backend() {
  namespace o = backend_ops;
  static_assert(o::has_scalar<B>::value, "a backend declares `using Scalar = T;`");
  static_assert(o::has_matrix<B>::value, "a backend declares `using Matrix = ...;` (Mat<T> on the host)");
  using T = typename B::Scalar;
  using M = typename B::Matrix;
  static_assert(o::provides<o::rows, B, Index>::value && o::provides<o::cols, B, Index>::value,
                "backend: Matrix has Index rows() const and Index cols() const");
  static_assert(o::provides<o::name, B, std::string>::value, "backend: std::string name() const");
  static_assert(o::provides<o::precision, B, std::string>::value, "backend: std::string precision() const");
  static_assert(o::provides<o::accumulate_r, B, M>::value, "backend: Matrix accumulate_r(RowBlockSource&, Index)");
  static_assert(o::provides<o::accumulate_gram, B, M>::value, "backend: Matrix accumulate_gram(RowBlockSource&, Index)");
  static_assert(o::provides<o::stack_r, B, M>::value, "backend: Matrix stack_r(const Matrix&, const Matrix&)");
  static_assert(o::provides<o::svd, B, ThinSvd<T, M>>::value, "backend: ThinSvd<T, Matrix> svd(const Matrix&)");
  static_assert(o::provides<o::eigh, B, SymEig<T, M>>::value, "backend: SymEig<T, Matrix> eigh(const Matrix&)");
  static_assert(o::provides<o::cholesky_lower, B, bool>::value, "backend: bool cholesky_lower(const Matrix&, Matrix&)");
  static_assert(o::provides<o::inverse, B, M>::value, "backend: Matrix inverse(const Matrix&)");
  static_assert(o::provides<o::gemm, B, void>::value,
                "backend: void gemm(bool, bool, T alpha, const Matrix&, const Matrix&, T beta, Matrix&)");
  static_assert(o::provides<o::upload, B, M>::value, "backend: Matrix upload(const Mat<T>&)");
  static_assert(o::provides<o::download, B, Mat<T>>::value, "backend: Mat<T> download(const Matrix&)");
  static_assert(o::provides<o::copy, B, M>::value, "backend: Matrix copy(const Matrix&)");
  static_assert(o::provides<o::zeros, B, M>::value, "backend: Matrix zeros(Index, Index)");
  static_assert(o::provides<o::left_cols, B, M>::value, "backend: Matrix left_cols(const Matrix&, Index)");
  static_assert(o::provides<o::hcat, B, M>::value, "backend: Matrix hcat(const Matrix&, const Matrix&)");
  static_assert(o::provides<o::scale_columns, B, void>::value, "backend: void scale_columns(Matrix&, const Vec<T>&)");
  static_assert(o::provides<o::scale_rows, B, void>::value, "backend: void scale_rows(Matrix&, const Vec<T>&)");
  static_assert(o::provides<o::add_diagonal, B, void>::value, "backend: void add_diagonal(Matrix&, T)");
  static_assert(o::provides<o::diagonal, B, Vec<T>>::value, "backend: Vec<T> diagonal(const Matrix&)");
  static_assert(o::provides<o::column_sq_norms, B, std::vector<double>>::value,
                "backend: std::vector<double> column_sq_norms(const Matrix&)");
  static_assert(o::provides<o::squared_norm, B, T>::value, "backend: T squared_norm(const Matrix&)");
  static_assert(o::provides<o::dot, B, T>::value, "backend: T dot(const Matrix&, const Matrix&)");
  static_assert(o::provides<o::all_finite, B, bool>::value, "backend: bool all_finite(const Matrix&)");
  static_assert(!has_singular_values_v<B> || o::provides<o::singular_values, B, Vec<T>>::value,
                "backend: the optional singular_values(const Matrix&) returns Vec<T>");
  static_assert(!has_eigenvalues_v<B> || o::provides<o::eigenvalues, B, Vec<T>>::value,
                "backend: the optional eigenvalues(const Matrix&) returns Vec<T>");
  return true;
}

// True when B can run the deep-factorization trainer (dynamics/trainer.hpp) on its own matrices.
template <class B> constexpr bool check_train_backend() {
  namespace o = backend_ops;
  static_assert(o::has_scalar<B>::value, "a backend declares `using Scalar = T;`");
  static_assert(o::has_matrix<B>::value, "a backend declares `using Matrix = ...;` (Mat<T> on the host)");
  using T = typename B::Scalar;
  using M = typename B::Matrix;
  static_assert(o::provides<o::svd, B, ThinSvd<T, M>>::value, "backend: ThinSvd<T, Matrix> svd(const Matrix&)");
  static_assert(o::provides<o::gemm, B, void>::value,
                "backend: void gemm(bool, bool, T alpha, const Matrix&, const Matrix&, T beta, Matrix&)");
  static_assert(o::provides<o::upload, B, M>::value, "backend: Matrix upload(const Mat<T>&)");
  static_assert(o::provides<o::download, B, Mat<T>>::value, "backend: Mat<T> download(const Matrix&)");
  static_assert(o::provides<o::copy, B, M>::value, "backend: Matrix copy(const Matrix&)");
  static_assert(o::provides<o::left_cols, B, M>::value, "backend: Matrix left_cols(const Matrix&, Index)");
  static_assert(o::provides<o::squared_norm, B, T>::value, "backend: T squared_norm(const Matrix&)");
  static_assert(o::provides<o::axpby, B, void>::value, "backend: void axpby(T, const Matrix&, T, Matrix&)");
  static_assert(o::provides<o::masked_residual, B, ResidualSums<T>>::value,
                "backend: ResidualSums<T> masked_residual(const Matrix& P, const Matrix& Phi, const Matrix& mask, T c, "
                "Matrix& E)");
  static_assert(!has_singular_values_v<B> || o::provides<o::singular_values, B, Vec<T>>::value,
                "backend: the optional singular_values(const Matrix&) returns Vec<T>");
  return true;
}

}  // namespace lowrank
