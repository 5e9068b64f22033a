// Proof that the driver does no expensive product on the host: every method runs over a backend
// whose scalar counts its multiplications. The backend's own operations convert to double and call
// CpuBackend<double> (their work is not counted); everything the driver computes itself in the
// backend's scalar is. The host's share must stay O(m n + n^2): a few passes over W-sized and
// n x n matrices (diagonal scalings, norms, sqrt(mu) I), never a product like W R^T (m n^2 = 12x
// the bound below) or A^T W (r m n, 1.7x it). A sanity test shows the counter sees an Eigen product.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace counting {

inline long long multiplications = 0;  // by Counted, i.e. on the host, outside a backend operation

// A double that counts each multiplication and division it takes part in.
struct Counted {
  double v = 0;
  Counted() = default;
  Counted(double x) : v(x) {}  // NOLINT: implicit, as T(0), T(1e-6) in the driver need
  Counted operator-() const { return Counted(-v); }
  Counted& operator+=(const Counted& o) { v += o.v; return *this; }
  Counted& operator-=(const Counted& o) { v -= o.v; return *this; }
  Counted& operator*=(const Counted& o) { ++multiplications; v *= o.v; return *this; }
  Counted& operator/=(const Counted& o) { ++multiplications; v /= o.v; return *this; }
};
inline Counted operator+(Counted a, const Counted& b) { return a += b; }
inline Counted operator-(Counted a, const Counted& b) { return a -= b; }
inline Counted operator*(Counted a, const Counted& b) { return a *= b; }
inline Counted operator/(Counted a, const Counted& b) { return a /= b; }
inline bool operator<(const Counted& a, const Counted& b) { return a.v < b.v; }
inline bool operator>(const Counted& a, const Counted& b) { return a.v > b.v; }
inline bool operator<=(const Counted& a, const Counted& b) { return a.v <= b.v; }
inline bool operator>=(const Counted& a, const Counted& b) { return a.v >= b.v; }
inline bool operator==(const Counted& a, const Counted& b) { return a.v == b.v; }
inline bool operator!=(const Counted& a, const Counted& b) { return a.v != b.v; }
inline Counted sqrt(const Counted& a) { return Counted(std::sqrt(a.v)); }
inline Counted abs(const Counted& a) { return Counted(std::abs(a.v)); }
inline bool isfinite(const Counted& a) { return std::isfinite(a.v); }
inline bool isnan(const Counted& a) { return std::isnan(a.v); }
inline bool isinf(const Counted& a) { return std::isinf(a.v); }

}  // namespace counting

namespace Eigen {
template <> struct NumTraits<counting::Counted> : GenericNumTraits<counting::Counted> {
  using Real = counting::Counted;
  using NonInteger = counting::Counted;
  using Nested = counting::Counted;
  using Literal = counting::Counted;
  enum { IsComplex = 0, IsInteger = 0, IsSigned = 1, RequireInitialization = 1, ReadCost = 1, AddCost = 1, MulCost = 1 };
  static Real epsilon() { return 0x1p-52; }
  static Real dummy_precision() { return 1e-12; }
  static Real highest() { return 1.7976931348623157e308; }
  static Real lowest() { return -1.7976931348623157e308; }
  static int digits10() { return 15; }
};
}  // namespace Eigen

namespace lowrank {
template <> struct ScalarTraits<counting::Counted> {
  static std::string name() { return "float64"; }
  static counting::Counted unit_roundoff() { return 0x1p-53; }
  static double to_double(const counting::Counted& x) { return x.v; }
  static std::string to_decimal(const counting::Counted& x, int digits = 17) {
    return ScalarTraits<double>::to_decimal(x.v, digits);
  }
  static int bits() { return 53; }
};
}  // namespace lowrank

namespace {

using counting::Counted;
using lowrank::Index;
using lowrank::Mat;
using lowrank::MatrixXd;
using lowrank::Vec;

MatrixXd down(const Mat<Counted>& M) { return M.unaryExpr([](const Counted& c) { return c.v; }); }
Mat<Counted> up(const MatrixXd& M) { return M.unaryExpr([](double x) { return Counted(x); }); }
Vec<Counted> up(const lowrank::VectorXd& v) { return v.unaryExpr([](double x) { return Counted(x); }); }

// Every operation in double by CpuBackend<double>, uncounted; records the gemm calls' flops.
class CountingBackend {
 public:
  using Scalar = Counted;
  std::string name() const { return "counting"; }
  std::string precision() const { return "float64"; }
  Mat<Counted> accumulate_r(lowrank::RowBlockSource& X, Index b) { return up(cpu_.accumulate_r(X, b)); }
  Mat<Counted> accumulate_gram(lowrank::RowBlockSource& X, Index b) { return up(cpu_.accumulate_gram(X, b)); }
  Mat<Counted> stack_r(const Mat<Counted>& R, const Mat<Counted>& rows) { return up(cpu_.stack_r(down(R), down(rows))); }
  lowrank::ThinSvd<Counted> svd(const Mat<Counted>& M) {
    const lowrank::ThinSvd<double> s = cpu_.svd(down(M));
    return {up(s.U), up(s.s), up(s.V)};
  }
  lowrank::SymEig<Counted> eigh(const Mat<Counted>& G) {
    const lowrank::SymEig<double> e = cpu_.eigh(down(G));
    return {up(e.values), up(e.vectors)};
  }
  Vec<Counted> singular_values(const Mat<Counted>& M) { return up(cpu_.singular_values(down(M))); }
  Vec<Counted> eigenvalues(const Mat<Counted>& G) { return up(cpu_.eigenvalues(down(G))); }
  bool cholesky_lower(const Mat<Counted>& G, Mat<Counted>& L) {
    MatrixXd l;
    const bool ok = cpu_.cholesky_lower(down(G), l);
    L = up(l);
    return ok;
  }
  Mat<Counted> inverse(const Mat<Counted>& M) { return up(cpu_.inverse(down(M))); }
  void gemm(bool ta, bool tb, Counted alpha, const Mat<Counted>& A, const Mat<Counted>& B, Counted beta, Mat<Counted>& C) {
    MatrixXd c = beta.v == 0 ? MatrixXd() : down(C);
    cpu_.gemm(ta, tb, alpha.v, down(A), down(B), beta.v, c);
    C = up(c);
    gemm_flops += 2.0 * double(A.size()) * double(tb ? B.rows() : B.cols());
    ++gemm_calls;
  }
  double gemm_flops = 0;
  int gemm_calls = 0;

 private:
  lowrank::CpuBackend<double> cpu_;
};
static_assert(lowrank::check_solve_backend<CountingBackend>());

struct Case {
  lowrank::Method method;
  double mu;
  Index N;  // tokens
};

constexpr Index m = 96, n = 128, r = 16;

TEST(ProductCount, TheCounterSeesAnEigenProduct) {
  lowrank::SplitMixRng rng(7);
  const Mat<Counted> W = up(lowrank::gaussian(m, n, rng)), R = up(lowrank::gaussian(n, n, rng));
  counting::multiplications = 0;
  const Mat<Counted> P = W * R.transpose();
  EXPECT_GE(counting::multiplications, m * n * n);  // so a product left in the driver would show
  EXPECT_GT(m * n * n, 4 * (m * n + n * n));
}

TEST(ProductCount, NoHostProductBeyondMnPlusNSquaredInAnyMethod) {
  using lowrank::Method;
  const std::vector<Case> cases = {
      {Method::coala, 0.0, 3 * n},   {Method::coala, 1e-2, 3 * n}, {Method::limit, 0.0, 3 * n},
      {Method::limit, 0.0, 8},  // rank(W X) <= 8 < r: the completion by (I - U_k U_k^T) W
      {Method::svd_llm, 0.0, 3 * n}, {Method::svd_llm, 0.0, 8},     // 8 tokens: Cholesky fails, shift
      {Method::svd_llm_v2, 0.0, 3 * n}, {Method::pinv, 0.0, 3 * n}, {Method::damped, 0.0, 3 * n},
  };
  for (const Case& c : cases) {
    const std::string what = std::string(lowrank::method_name(c.method)) + ", mu = " + std::to_string(c.mu) +
                             ", N = " + std::to_string(c.N);
    lowrank::SplitMixRng rng(11);
    const MatrixXd W = lowrank::gaussian(m, n, rng);
    lowrank::MatrixRowSource X(lowrank::gaussian(c.N, n, rng));
    lowrank::SolveOptions opt;
    opt.method = c.method;
    opt.rank = r;
    opt.mu = c.mu;
    opt.block_rows = 64;

    CountingBackend counting_be;
    counting::multiplications = 0;
    const lowrank::Solution<Counted> s = lowrank::solve(counting_be, up(W), X, opt);
    const long long host = counting::multiplications;
    ASSERT_TRUE(s.report.ok()) << what << ": " << s.report.failure;
    EXPECT_LE(host, 4 * (m * n + n * n)) << what << ": the driver multiplied on the host";
    // The method's products went through the backend: at least W R^T (or W L, W U_s) and A^T W.
    EXPECT_GE(counting_be.gemm_flops, 2.0 * m * n * n) << what;

    // And the counting backend is faithful: CpuBackend<double> gives the same factors, bit for bit.
    lowrank::CpuBackend<double> cpu;
    const lowrank::Solution<double> d = lowrank::solve(cpu, W, X, opt);
    EXPECT_EQ((down(s.A) - d.A).cwiseAbs().maxCoeff(), 0.0) << what;
    EXPECT_EQ((down(s.B) - d.B).cwiseAbs().maxCoeff(), 0.0) << what;
  }
}

}  // namespace
