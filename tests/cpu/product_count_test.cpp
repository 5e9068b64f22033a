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
#include "lowrank/dynamics/trainer.hpp"
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
class CountingBackend : public lowrank::HostMatrixOps<Counted> {
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

// Every method family and every branch of the driver: mu > 0, the limit's completion, the
// svd-llm shift fallback.
std::vector<Case> every_branch() {
  using lowrank::Method;
  return {
      {Method::coala, 0.0, 3 * n},   {Method::coala, 1e-2, 3 * n}, {Method::limit, 0.0, 3 * n},
      {Method::limit, 0.0, 8},  // rank(W X) <= 8 < r: the completion by (I - U_k U_k^T) W
      {Method::svd_llm, 0.0, 3 * n}, {Method::svd_llm, 0.0, 8},     // 8 tokens: Cholesky fails, shift
      {Method::svd_llm_v2, 0.0, 3 * n}, {Method::pinv, 0.0, 3 * n}, {Method::damped, 0.0, 3 * n},
  };
}

// One case's problem: W (m x n), X (N x n), the options, and its name for messages.
struct Problem {
  std::string what;
  MatrixXd W, X;
  lowrank::SolveOptions opt;
  // The same solve by CpuBackend<double>: what every backend of this file must reproduce bit for bit.
  lowrank::Solution<double> on_cpu() const {
    lowrank::MatrixRowSource src(X);
    lowrank::CpuBackend<double> cpu;
    return lowrank::solve(cpu, W, src, opt);
  }
};
Problem problem(const Case& c) {
  Problem p;
  p.what = std::string(lowrank::method_name(c.method)) + ", mu = " + std::to_string(c.mu) + ", N = " + std::to_string(c.N);
  lowrank::SplitMixRng rng(11);
  p.W = lowrank::gaussian(m, n, rng);
  p.X = lowrank::gaussian(c.N, n, rng);
  p.opt.method = c.method;
  p.opt.rank = r;
  p.opt.mu = c.mu;
  p.opt.block_rows = 64;
  return p;
}

TEST(ProductCount, NoHostProductBeyondMnPlusNSquaredInAnyMethod) {
  for (const Case& c : every_branch()) {
    const Problem p = problem(c);
    const std::string& what = p.what;
    lowrank::MatrixRowSource X(p.X);

    CountingBackend counting_be;
    counting::multiplications = 0;
    const lowrank::Solution<Counted> s = lowrank::solve(counting_be, up(p.W), X, p.opt);
    const long long host = counting::multiplications;
    ASSERT_TRUE(s.report.ok()) << what << ": " << s.report.failure;
    EXPECT_LE(host, 4 * (m * n + n * n)) << what << ": the driver multiplied on the host";
    // The method's products went through the backend: at least W R^T (or W L, W U_s) and A^T W.
    EXPECT_GE(counting_be.gemm_flops, 2.0 * m * n * n) << what;

    // And the counting backend is faithful: CpuBackend<double> gives the same factors, bit for bit.
    const lowrank::Solution<double> d = p.on_cpu();
    EXPECT_EQ((down(s.A) - d.A).cwiseAbs().maxCoeff(), 0.0) << what;
    EXPECT_EQ((down(s.B) - d.B).cwiseAbs().maxCoeff(), 0.0) << what;
  }
}

// ---- device residency: the driver over a backend whose matrices the host cannot read ----

// A matrix the driver can only hand back to its backend: shape, no elements, no copies (like
// CudaBackend's DeviceMatrix). A driver that read or wrote an element, or formed a product
// itself, would not compile against it.
class Opaque {
 public:
  Opaque() = default;
  Opaque(Opaque&&) = default;
  Opaque& operator=(Opaque&&) = default;
  Opaque(const Opaque&) = delete;
  Opaque& operator=(const Opaque&) = delete;
  Index rows() const { return m_.rows(); }
  Index cols() const { return m_.cols(); }

 private:
  friend class OpaqueBackend;
  explicit Opaque(MatrixXd m) : m_(std::move(m)) {}
  MatrixXd m_;
};

// Every operation by CpuBackend<double> on the hidden matrices; counts what crosses the seam:
// matrices up (upload), matrices down (download), and the vectors every other operation returns.
class OpaqueBackend {
 public:
  using Scalar = double;
  using Matrix = Opaque;
  using VectorXd = lowrank::VectorXd;
  std::string name() const { return "opaque"; }
  std::string precision() const { return "float64"; }

  Opaque accumulate_r(lowrank::RowBlockSource& X, Index b) { return Opaque(cpu_.accumulate_r(X, b)); }
  Opaque accumulate_gram(lowrank::RowBlockSource& X, Index b) { return Opaque(cpu_.accumulate_gram(X, b)); }
  Opaque stack_r(const Opaque& R, const Opaque& rows) { return Opaque(cpu_.stack_r(R.m_, rows.m_)); }
  lowrank::ThinSvd<double, Opaque> svd(const Opaque& M) {
    lowrank::ThinSvd<double> s = cpu_.svd(M.m_);
    return {Opaque(std::move(s.U)), vec(std::move(s.s)), Opaque(std::move(s.V))};
  }
  lowrank::SymEig<double, Opaque> eigh(const Opaque& G) {
    lowrank::SymEig<double> e = cpu_.eigh(G.m_);
    return {vec(std::move(e.values)), Opaque(std::move(e.vectors))};
  }
  VectorXd singular_values(const Opaque& M) { return vec(cpu_.singular_values(M.m_)); }
  VectorXd eigenvalues(const Opaque& G) { return vec(cpu_.eigenvalues(G.m_)); }
  bool cholesky_lower(const Opaque& G, Opaque& L) { return cpu_.cholesky_lower(G.m_, L.m_); }
  Opaque inverse(const Opaque& M) { return Opaque(cpu_.inverse(M.m_)); }
  void gemm(bool ta, bool tb, double alpha, const Opaque& A, const Opaque& B, double beta, Opaque& C) {
    cpu_.gemm(ta, tb, alpha, A.m_, B.m_, beta, C.m_);
  }
  Opaque upload(const MatrixXd& M) {
    ++uploads;
    up_elements += double(M.size());
    return Opaque(M);
  }
  MatrixXd download(const Opaque& M) {
    ++downloads;
    down_elements += double(M.m_.size());
    return M.m_;
  }
  Opaque copy(const Opaque& M) { return Opaque(M.m_); }
  Opaque zeros(Index rows, Index cols) { return Opaque(cpu_.zeros(rows, cols)); }
  Opaque left_cols(const Opaque& M, Index k) { return Opaque(cpu_.left_cols(M.m_, k)); }
  Opaque hcat(const Opaque& A, const Opaque& B) { return Opaque(cpu_.hcat(A.m_, B.m_)); }
  void scale_columns(Opaque& M, const VectorXd& d) { cpu_.scale_columns(M.m_, d); }
  void scale_rows(Opaque& M, const VectorXd& d) { cpu_.scale_rows(M.m_, d); }
  void add_diagonal(Opaque& M, double a) { cpu_.add_diagonal(M.m_, a); }
  VectorXd diagonal(const Opaque& M) { return vec(cpu_.diagonal(M.m_)); }
  std::vector<double> column_sq_norms(const Opaque& M) {
    std::vector<double> v = cpu_.column_sq_norms(M.m_);
    largest_vector = std::max(largest_vector, Index(v.size()));
    return v;
  }
  double squared_norm(const Opaque& M) { return cpu_.squared_norm(M.m_); }
  double dot(const Opaque& A, const Opaque& B) { return cpu_.dot(A.m_, B.m_); }
  bool all_finite(const Opaque& M) { return cpu_.all_finite(M.m_); }
  // the trainer's (dynamics/trainer.hpp)
  void axpby(double alpha, const Opaque& X, double beta, Opaque& Y) { cpu_.axpby(alpha, X.m_, beta, Y.m_); }
  lowrank::ResidualSums<double> masked_residual(const Opaque& P, const Opaque& Phi, const Opaque& mask, double c,
                                                Opaque& E) {
    ++residuals;
    return cpu_.masked_residual(P.m_, Phi.m_, mask.m_, c, E.m_);
  }

  int uploads = 0, downloads = 0, residuals = 0;
  double up_elements = 0, down_elements = 0;
  Index largest_vector = 0;  // the longest vector any operation returned

 private:
  VectorXd vec(VectorXd v) {
    largest_vector = std::max(largest_vector, v.size());
    return v;
  }
  lowrank::CpuBackend<double> cpu_;
};
static_assert(lowrank::check_solve_backend<OpaqueBackend>() && lowrank::check_train_backend<OpaqueBackend>());
static_assert(!lowrank::host_resident_v<OpaqueBackend>);

TEST(DeviceResident, OnlyWGoesUpAndOnlyABAndVectorsComeDownInAnyMethod) {
  for (const Case& c : every_branch()) {
    const Problem p = problem(c);
    const std::string& what = p.what;
    lowrank::MatrixRowSource X(p.X);

    OpaqueBackend be;
    const lowrank::Solution<double> s = lowrank::solve(be, p.W, X, p.opt);
    ASSERT_TRUE(s.report.ok()) << what << ": " << s.report.failure;
    // Up: W, once (the activations go in through accumulate_*'s block source).
    EXPECT_EQ(be.uploads, 1) << what;
    EXPECT_EQ(be.up_elements, double(m * n)) << what;
    // Down: A and B, once each; every other result is a vector of at most max(m, n) numbers.
    EXPECT_EQ(be.downloads, 2) << what;
    EXPECT_EQ(be.down_elements, double(m * r + r * n)) << what;
    EXPECT_LE(be.largest_vector, std::max(m, n)) << what;
    ASSERT_EQ(s.A.rows(), m);
    ASSERT_EQ(s.B.cols(), n);

    // The same operations in the same order as the host path: the same factors, bit for bit.
    const lowrank::Solution<double> d = p.on_cpu();
    EXPECT_EQ((s.A - d.A).cwiseAbs().maxCoeff(), 0.0) << what;
    EXPECT_EQ((s.B - d.B).cwiseAbs().maxCoeff(), 0.0) << what;
    EXPECT_EQ(s.report.objective, d.report.objective) << what;
  }
}

// A host Accumulated (a distributed run's) is uploaded once: R and W go up, A and B come down.
TEST(DeviceResident, AHostAccumulatedIsUploadedOnce) {
  lowrank::SplitMixRng rng(3);
  const MatrixXd W = lowrank::gaussian(m, n, rng);
  lowrank::MatrixRowSource X(lowrank::gaussian(3 * n, n, rng));
  lowrank::SolveOptions opt;
  opt.rank = r;
  lowrank::CpuBackend<double> cpu;
  lowrank::Accumulated<double> host = lowrank::accumulate(cpu, X, opt);
  OpaqueBackend be;
  const lowrank::Solution<double> s = lowrank::solve_accumulated(be, W, host, opt);
  ASSERT_TRUE(s.report.ok()) << s.report.failure;
  EXPECT_EQ(be.uploads, 2);
  EXPECT_EQ(be.up_elements, double(m * n + n * n));
  EXPECT_EQ(be.downloads, 2);
  const lowrank::Solution<double> d = lowrank::solve_accumulated(cpu, W, std::move(host), opt);
  EXPECT_EQ((s.A - d.A).cwiseAbs().maxCoeff(), 0.0);
}

// ---- device residency of the deep-factorization trainer (dynamics/trainer.hpp) ----

// The problems of the dynamics suite: completion (a mask), full observation, Deep LoRA; full-width
// and compressed networks.
struct TrainCase {
  const char* what;
  lowrank::dynamics::Config cfg;
};
std::vector<TrainCase> train_cases() {
  lowrank::dynamics::Config base;
  base.depth = 3, base.width = 20, base.rank = 2, base.eps = 0.3, base.eta = 2.0, base.weight_decay = 1e-4;
  base.seed = 5, base.record_every = 1000, base.invariant = true;
  std::vector<TrainCase> out;
  for (bool compressed : {false, true}) {
    lowrank::dynamics::Config c = base;
    c.compressed = compressed;
    c.observed = 0.5;
    out.push_back({compressed ? "completion, compressed" : "completion, full", c});
    c.observed = 1.0;
    out.push_back({compressed ? "full observation, compressed" : "full observation, full", c});
    c.lora_samples = 12, c.eta = 0.7;
    out.push_back({compressed ? "Deep LoRA, compressed" : "Deep LoRA, full", c});
  }
  return out;
}

// A step moves no matrix across the seam: the transfers of a run do not depend on its number of
// steps (setup, the start, the compression and the final product only), each step is one
// masked_residual (or the LoRA residual's products), and the result is CpuBackend<double>'s, bit
// for bit. An observer's product and layers come down at recorded steps only.
TEST(DeviceResident, TrainingStepsMoveNoMatrixAndMatchTheHostBitForBit) {
  for (const TrainCase& tc : train_cases()) {
    const lowrank::dynamics::ProblemData data = lowrank::dynamics::make_problem(tc.cfg);
    int up[2], down[2];
    int k = 0;
    for (long steps : {4L, 24L}) {
      lowrank::dynamics::Config cfg = tc.cfg;
      cfg.steps = steps;
      OpaqueBackend be;
      const auto res = lowrank::dynamics::train(be, cfg, data);
      up[k] = be.uploads, down[k] = be.downloads;
      // One per evaluation: steps + 1, and the compression's evaluation of the start.
      if (tc.cfg.lora_samples == 0) {
        EXPECT_EQ(be.residuals, steps + 1 + (cfg.compressed ? 1 : 0)) << tc.what;
      }
      lowrank::CpuBackend<double> cpu;
      const auto ref = lowrank::dynamics::train(cpu, cfg, data);
      ASSERT_EQ(res.curve.size(), ref.curve.size()) << tc.what;
      for (std::size_t i = 0; i < ref.curve.size(); ++i) {
        EXPECT_EQ(res.curve[i].loss, ref.curve[i].loss) << tc.what << ", record " << i;
        EXPECT_EQ(res.curve[i].recovery_error, ref.curve[i].recovery_error) << tc.what << ", record " << i;
        if (!std::isnan(ref.curve[i].max_invariant_dev)) {
          EXPECT_EQ(res.curve[i].max_invariant_dev, ref.curve[i].max_invariant_dev) << tc.what;
        }
      }
      EXPECT_EQ((res.product - ref.product).cwiseAbs().maxCoeff(), 0.0) << tc.what << ", " << steps << " steps";
      ++k;
    }
    EXPECT_EQ(up[0], up[1]) << tc.what << ": uploads grow with the number of steps";
    EXPECT_EQ(down[0], down[1]) << tc.what << ": downloads grow with the number of steps";
    EXPECT_GE(down[0], 1) << tc.what << ": the product comes down at the end";

    // With an observer: the product (and a full run's L layers) come down at each recorded step.
    lowrank::dynamics::Config cfg = tc.cfg;
    cfg.steps = 6, cfg.record_every = 2;  // records at 0, 2, 4, 6
    OpaqueBackend be;
    int seen = 0;
    lowrank::dynamics::train(be, cfg, data, [&](const lowrank::dynamics::Snapshot<double>& snap) {
      ++seen;
      EXPECT_EQ(snap.product.rows(), cfg.width);
      EXPECT_EQ(snap.layers != nullptr, !cfg.compressed);
    });
    EXPECT_EQ(seen, 4) << tc.what;
    const int per_record = 1 + (cfg.compressed ? 0 : int(cfg.depth));
    EXPECT_EQ(be.downloads, down[0] + 4 * per_record) << tc.what;
  }
}

// The trainer's element-wise pieces refuse mismatched shapes with a message naming them (the one
// check in backend.hpp, shared with the CUDA backend), before writing anything.
TEST(TrainerPieces, MismatchedShapesAreRefusedByName) {
  lowrank::HostMatrixOps<double> host;
  const Mat<double> X = Mat<double>::Ones(3, 4);
  Mat<double> Y = Mat<double>::Zero(3, 5), E;
  try {
    host.axpby(1.0, X, 1.0, Y);
    ADD_FAILURE() << "axpby accepted 3 x 4 into 3 x 5";
  } catch (const lowrank::Error& e) {
    EXPECT_NE(std::string(e.what()).find("axpby: 3 x 4 into 3 x 5"), std::string::npos) << e.what();
  }
  EXPECT_TRUE(Y.isZero(0));
  try {
    host.masked_residual(X, X, Mat<double>::Ones(3, 3), 1.0, E);
    ADD_FAILURE() << "masked_residual accepted a 3 x 3 mask for 3 x 4";
  } catch (const lowrank::Error& e) {
    EXPECT_NE(std::string(e.what()).find("mask 3 x 3"), std::string::npos) << e.what();
  }
  EXPECT_EQ(E.size(), 0);
  EXPECT_THROW(host.masked_residual(X, Mat<double>::Ones(4, 3), Mat<double>(), 1.0, E), lowrank::Error);
}
}  // namespace
