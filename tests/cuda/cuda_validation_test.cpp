// The backend validation suite of tests/cpu/backend_validation.hpp (the exact checks the CPU
// backend passes, against the MPFR reference) instantiated for CudaBackend<float> and <double>.
//
// Without a usable device every test must report itself SKIPPED with the reason. GoogleTest 1.12
// counts a skip from a global Environment as "PASSED", so the skip is per test, in SetUp: the
// suite's fixture is specialized for CudaBackend with the same members (u, make, is_float) plus that
// SetUp. (If the fixture in backend_validation.hpp gains members, this specialization must follow.)
#include "backend_validation.hpp"
#include "lowrank/fast/cuda_backend.hpp"

template <class T> class BackendValidation<lowrank::CudaBackend<T>> : public ::testing::Test {
 protected:
  using B = lowrank::CudaBackend<T>;
  static constexpr bool is_float = std::is_same_v<T, float>;
  static double u() { return lowrank::validation::unit_roundoff<T>(); }
  static B make() { return lowrank::validation::BackendHooks<B>::make(); }
  void SetUp() override {
    const std::string why = B::unavailable_reason();
    if (!why.empty()) GTEST_SKIP() << why;
  }
};

// Default hooks: CudaBackend is default-constructible; its in-memory variant is the same backend fed
// every token in one block (one Xgeqrf of all of X^T).
using CudaTypes = ::testing::Types<lowrank::CudaBackend<float>, lowrank::CudaBackend<double>>;
INSTANTIATE_TYPED_TEST_SUITE_P(Cuda, BackendValidation, CudaTypes);
