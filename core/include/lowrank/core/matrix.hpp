#pragma once
// Matrix types shared by every backend: Eigen, templated on the scalar (float, double, mpreal).
#include <Eigen/Dense>
#include <cstdint>
#include <string>

namespace lowrank {

using Index = Eigen::Index;
template <class T> using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <class T> using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
using MatrixXd = Mat<double>;
using MatrixXf = Mat<float>;
using VectorXd = Vec<double>;

inline std::string shape_str(Index rows, Index cols) {
  return std::to_string(rows) + " x " + std::to_string(cols);
}

// Flip rows of an upper-triangular factor so that its diagonal is nonnegative: R is unique up to
// these signs (MATH.md 1.1), so this is the canonical form used to compare two factorizations.
template <class T>
void normalize_row_signs(Mat<T>& R) {
  const Index k = std::min(R.rows(), R.cols());
  for (Index i = 0; i < k; ++i)
    if (R(i, i) < T(0)) R.row(i) *= T(-1);
}

}  // namespace lowrank
