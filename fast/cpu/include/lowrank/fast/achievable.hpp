#pragma once
// The accuracy a backward-stable method reaches on one instance at a given precision: the
// project's own COALA on the CPU backend (float32 or float64), run on `samples` seeded backward
// perturbations of the data (every entry of W and X multiplied by 1 + u delta, delta uniform in
// [-1, 1], u the precision's unit roundoff; X is perturbed block by block as it streams, so the
// memory stays O(block n)), each answer judged by the same checker as a candidate. `lowrank check`
// and `lowrank corpus` compare a candidate with the median (core/ratios.hpp, apply_achievable).
//
// This is a statistical statement about this instance, not a bound: it says what a stable
// method *does* reach here, where the rigorous ratios say what it may reach in the worst case.
#include <cstdint>

#include "lowrank/core/npy.hpp"
#include "lowrank/core/ratios.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {

struct AchievableOptions {
  int samples = 5;
  std::uint64_t seed = 20261203;
  Index block_rows = 4096;
};

AchievableAccuracy achievable_accuracy(const MatrixXd& W, RowBlockSource& X, const ReferenceSolution& ref,
                                       Dtype precision, const AchievableOptions& opt = {});

}  // namespace lowrank
