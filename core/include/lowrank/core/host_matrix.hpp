#pragma once
// The seam's data-movement and O(m n) operations (backend.hpp) for backends whose matrices are
// host Eigen matrices (Matrix = Mat<T>): CpuBackend, ReferenceBackend and the tests' backends
// derive from HostMatrixOps<T> and write only the factorizations and the products. upload and
// download are copies here (the driver does not call them for a host backend: it keeps
// references); everything else is one Eigen expression of O(m n) work.
#include <vector>

#include "lowrank/core/backend.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/matrix.hpp"
#include "lowrank/core/scalar.hpp"

namespace lowrank {

template <class T> class HostMatrixOps {
 public:
  using Matrix = Mat<T>;

  Mat<T> upload(const Mat<T>& M) const { return M; }
  Mat<T> download(const Mat<T>& M) const { return M; }
  Mat<T> copy(const Mat<T>& M) const { return M; }
  Mat<T> zeros(Index rows, Index cols) const { return Mat<T>::Zero(rows, cols); }
  Mat<T> left_cols(const Mat<T>& M, Index k) const {
    if (k < 0 || k > M.cols())
      throw Error("left_cols: " + std::to_string(k) + " columns of a " + shape_str(M.rows(), M.cols()) + " matrix");
    return M.leftCols(k);
  }
  Mat<T> hcat(const Mat<T>& A, const Mat<T>& B) const {
    if (A.rows() != B.rows())
      throw Error("hcat: " + shape_str(A.rows(), A.cols()) + " beside " + shape_str(B.rows(), B.cols()));
    Mat<T> C(A.rows(), A.cols() + B.cols());
    C << A, B;
    return C;
  }
  // M diag(d) and diag(d) M, in place.
  void scale_columns(Mat<T>& M, const Vec<T>& d) const {
    check_len("scale_columns", d.size(), M.cols());
    for (Index j = 0; j < M.cols(); ++j) M.col(j) *= d(j);
  }
  void scale_rows(Mat<T>& M, const Vec<T>& d) const {
    check_len("scale_rows", d.size(), M.rows());
    for (Index i = 0; i < M.rows(); ++i) M.row(i) *= d(i);
  }
  void add_diagonal(Mat<T>& M, const T& a) const { M.diagonal().array() += a; }
  Vec<T> diagonal(const Mat<T>& M) const { return M.diagonal(); }
  // ||M(:, j)||^2 summed in double: in float32, squared norms of data near 1e19 overflow T.
  std::vector<double> column_sq_norms(const Mat<T>& M) const {
    std::vector<double> out(std::size_t(M.cols()), 0.0);
    for (Index j = 0; j < M.cols(); ++j)
      for (Index i = 0; i < M.rows(); ++i) {
        const double v = ScalarTraits<T>::to_double(M(i, j));
        out[std::size_t(j)] += v * v;
      }
    return out;
  }
  T squared_norm(const Mat<T>& M) const { return M.squaredNorm(); }
  T dot(const Mat<T>& A, const Mat<T>& B) const {
    if (A.rows() != B.rows() || A.cols() != B.cols())
      throw Error("dot: " + shape_str(A.rows(), A.cols()) + " and " + shape_str(B.rows(), B.cols()));
    return A.cwiseProduct(B).sum();
  }
  bool all_finite(const Mat<T>& M) const { return M.allFinite(); }
  // The trainer's pieces (backend.hpp). Y = alpha X + beta Y, each element fl(fl(alpha x) + fl(beta y)).
  void axpby(const T& alpha, const Mat<T>& X, const T& beta, Mat<T>& Y) const {
    check_axpby_shapes(X, Y);
    Y = alpha * X + beta * Y;
  }
  // E = c mask .* (P - Phi) and the two sums of squares, in one pass over the d^2 entries (at
  // d = 1000 this pass, not the O(d^2 r) products, is most of a compressed step).
  ResidualSums<T> masked_residual(const Mat<T>& P, const Mat<T>& Phi, const Mat<T>& mask, const T& c,
                                  Mat<T>& E) const {
    check_masked_residual_shapes(P, Phi, mask);
    const bool full = mask.size() == 0;
    E.resize(P.rows(), P.cols());
    const Index n = P.size();
    const T* p = P.data();
    const T* phi = Phi.data();
    T* e = E.data();
    T seen(0), unseen(0);
    if (full) {
      for (Index k = 0; k < n; ++k) {
        const T x = p[k] - phi[k];
        seen += x * x;
        e[k] = c * x;
      }
      unseen = seen;
    } else {
      const T* m = mask.data();
      for (Index k = 0; k < n; ++k) {
        const T x = p[k] - phi[k], mx = m[k] * x;  // m is exactly 0 or 1
        seen += mx * x;
        unseen += (x - mx) * x;
        e[k] = c * mx;
      }
    }
    return {seen, unseen};
  }

 private:
  static void check_len(const char* what, Index got, Index want) {
    if (got != want)
      throw Error(std::string(what) + ": " + std::to_string(got) + " factors for " + std::to_string(want));
  }
};

}  // namespace lowrank
