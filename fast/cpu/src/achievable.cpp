#include "lowrank/fast/achievable.hpp"

#include <mutex>

#include "lowrank/core/driver.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace lowrank {
namespace {

// delta in [-1, 1] for entry (i, j) of perturbation `sample`: splitmix64 of a counter, so the
// perturbation of a row does not depend on how X is blocked.
double delta(std::uint64_t seed, std::uint64_t sample, std::uint64_t matrix, std::uint64_t i, std::uint64_t j) {
  std::uint64_t z = seed ^ (sample * 0x9e3779b97f4a7c15ULL) ^ (matrix * 0xbf58476d1ce4e5b9ULL) ^
                    (i * 0x94d049bb133111ebULL) ^ (j + 0x632be59bd9b4e5ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  z ^= z >> 31;
  return double(z >> 11) * 0x1p-52 - 1.0;  // [-1, 1)
}

// X with every entry multiplied by 1 + u delta, streamed.
class PerturbedRows final : public RowBlockSource {
 public:
  PerturbedRows(RowBlockSource& x, double u, std::uint64_t seed, std::uint64_t sample)
      : x_(x), u_(u), seed_(seed), sample_(sample) {}
  Index rows() const override { return x_.rows(); }
  Index cols() const override { return x_.cols(); }
  double data_unit_roundoff() const override { return x_.data_unit_roundoff(); }
  void reset() override {
    x_.reset();
    row_ = 0;
  }
  bool next(Index max_rows, MatrixXd& block) override {
    if (!x_.next(max_rows, block)) return false;
    for (Index j = 0; j < block.cols(); ++j)
      for (Index i = 0; i < block.rows(); ++i) block(i, j) *= 1 + u_ * delta(seed_, sample_, 1, row_ + i, j);
    row_ += block.rows();
    return true;
  }
  std::string name() const override { return x_.name() + " (perturbed)"; }

 private:
  RowBlockSource& x_;
  double u_;
  std::uint64_t seed_, sample_;
  Index row_ = 0;
};

template <class T>
AchievableAccuracy run(const MatrixXd& W, RowBlockSource& X, const ReferenceSolution& ref, const AchievableOptions& o) {
  const double u = ScalarTraits<T>::to_double(ScalarTraits<T>::unit_roundoff());
  AchievableAccuracy a;
  SolveOptions so;
  so.method = Method::coala;
  so.rank = ref.rank;
  so.mu = ref.mu;
  so.block_rows = o.block_rows;
  for (int k = 0; k < o.samples; ++k) {
    Mat<T> Wp(W.rows(), W.cols());
    for (Index j = 0; j < W.cols(); ++j)
      for (Index i = 0; i < W.rows(); ++i) Wp(i, j) = T(W(i, j) * (1 + u * delta(o.seed, k, 0, i, j)));
    PerturbedRows Xp(X, u, o.seed, std::uint64_t(k));
    CpuBackend<T> be;
    const Solution<T> s = solve(be, Wp, Xp, so);
    if (!s.report.ok()) continue;  // a stable method does not break down; skip, say nothing
    CandidateFactors c;
    c.A = s.A.template cast<double>();
    c.B = s.B.template cast<double>();
    c.dtype = std::is_same_v<T, float> ? Dtype::float32 : Dtype::float64;
    const CandidateCheck r = check_candidate(W, X, ref, c);
    if (!r.objective_computed) continue;
    a.forward_errors.push_back(r.forward_error);
    a.objective_excesses.push_back(std::max(0.0, r.objective_excess));
    ++a.samples;
  }
  return a;
}

}  // namespace

AchievableAccuracy achievable_accuracy(const MatrixXd& W, RowBlockSource& X, const ReferenceSolution& ref,
                                       Dtype precision, const AchievableOptions& opt) {
  if (opt.samples < 0) throw Error("achievable accuracy: samples must be >= 0");
  // Debian's OpenBLAS (pthreads build) can hang when two application threads call it at once
  // (seen: `lowrank corpus --jobs 2` stuck in exec_blas_async): one caller at a time.
  static std::mutex one_at_a_time;
  std::lock_guard<std::mutex> lock(one_at_a_time);
  return precision == Dtype::float32 ? run<float>(W, X, ref, opt) : run<double>(W, X, ref, opt);
}

}  // namespace lowrank
