#pragma once
// The whole verdict of `lowrank check`: the rigorous test ratios (core/ratios.hpp) and, for a
// candidate that passes them under ratio version 2, the statistical comparison with the project's
// own COALA at the candidate's precision (fast/cpu achievable.hpp; SUSPECT). One function, so that
// `lowrank check`, `lowrank corpus` and `lowrank.check` from Python give the same verdict.
#include "lowrank/core/ratios.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank::backends {

struct JudgeOptions {
  int ratio_version = kRatioVersion;  // 1 or 2
  int achievable_samples = 5;         // stable solves behind SUSPECT; 0 turns it off
  double threshold = kRatioThreshold; // ratios above this FAIL
};

// Throws lowrank::Error naming the option when one is out of range. Cheap: call it before
// anything expensive (an on-the-fly reference).
void validate(const JudgeOptions& opt);

// Judges a candidate against a reference of (W, X). Never throws for a bad candidate (a FAIL);
// throws lowrank::Error when the options are invalid or W, X and the reference disagree.
CandidateCheck judge(const MatrixXd& W, RowBlockSource& X, const ReferenceSolution& ref, const CandidateFactors& cand,
                  const JudgeOptions& opt = {});

}  // namespace lowrank::backends
