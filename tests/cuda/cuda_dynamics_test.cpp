// The deep-factorization trainer (dynamics/) on the cuBLAS backend against the cpu backend,
// float64: the same trajectory up to rounding. Skips without a device.
#include <gtest/gtest.h>

#include "lowrank/dynamics/run.hpp"
#include "lowrank/fast/cuda_backend.hpp"

namespace lowrank::dynamics {
namespace {

// Two float64 evaluations of the same T-step recursion (different summation orders) differ by
// at most the accumulated rounding B (proofs_checks/README.md, "Compressible dynamics"):
// ||P_cuda - P_cpu||_F / ||P_cpu||_F <= 2 u d (1 + 2 L (T + 1)), u = 2^-53.
void compare(bool compressed) {
  const std::string why = CudaBackend<double>::unavailable_reason();
  if (!why.empty()) GTEST_SKIP() << why;
  Config c;
  c.depth = 3, c.width = 64, c.rank = 3, c.observed = 0.5, c.eps = 0.1, c.eta = 20, c.gamma = 0.05, c.seed = 4;
  c.steps = 200, c.record_every = 50, c.compressed = compressed;
  const RunOutput a = run(c, BackendChoice{"cpu", Dtype::float64, 0});
  const RunOutput b = run(c, BackendChoice{"cuda", Dtype::float64, 0});
  const double bound = 2 * 0x1p-53 * 64 * (1 + 2.0 * 3 * 201);
  EXPECT_LE((a.product - b.product).norm(), bound * a.product.norm());
  ASSERT_EQ(a.curve.size(), b.curve.size());
  for (std::size_t i = 0; i < a.curve.size(); ++i)
    EXPECT_LE(std::abs(a.curve[i].loss - b.curve[i].loss), 2 * bound * a.curve[i].loss);
}

TEST(CudaDynamics, FullWidthMatchesCpu) { compare(false); }
TEST(CudaDynamics, CompressedMatchesCpu) { compare(true); }

}  // namespace
}  // namespace lowrank::dynamics
