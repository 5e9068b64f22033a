#include "lowrank/backends/judge.hpp"

#include <cmath>
#include <string>

#include "lowrank/core/error.hpp"
#include "lowrank/fast/achievable.hpp"

namespace lowrank::backends {

void validate(const JudgeOptions& opt) {
  if (opt.ratio_version != 1 && opt.ratio_version != 2)
    throw Error("--ratio-version must be 1 or 2, got " + std::to_string(opt.ratio_version));
  if (opt.achievable_samples < 0) throw Error("--achievable-samples must be >= 0");
  if (!(opt.threshold > 0) || !std::isfinite(opt.threshold))
    throw Error("threshold must be a finite number > 0, got " + std::to_string(opt.threshold));
}

CandidateCheck judge(const MatrixXd& W, RowBlockSource& X, const ReferenceSolution& ref, const CandidateFactors& cand,
                  const JudgeOptions& opt) {
  validate(opt);
  CheckOptions copt;
  copt.ratio_version = opt.ratio_version;
  copt.threshold = opt.threshold;
  CandidateCheck res = check_candidate(W, X, ref, cand, copt);
  if (opt.ratio_version >= 2 && opt.achievable_samples > 0 && res.verdict == Verdict::pass) {
    AchievableOptions ao;
    ao.samples = opt.achievable_samples;
    apply_achievable(res, ref, achievable_accuracy(W, X, ref, cand.dtype, ao));
  }
  return res;
}

}  // namespace lowrank::backends
