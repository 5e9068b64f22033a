// The backend validation suite (backend_validation.hpp) for CpuBackend<float> and <double>.
#include "backend_validation.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace lowrank::validation {
// In-memory variant: CpuOptions::in_memory_qr (one geqrf of all of X^T, whatever the block size).
template <class T> struct BackendHooks<CpuBackend<T>> {
  static CpuBackend<T> make() { return CpuBackend<T>{}; }
  static CpuBackend<T> make_in_memory() {
    CpuOptions o;
    o.in_memory_qr = true;
    return CpuBackend<T>(o);
  }
  static constexpr bool in_memory_needs_one_block = false;
};
}  // namespace lowrank::validation

namespace {
// CTest runs test processes side by side on a 2-core machine: one OpenBLAS thread each.
const bool one_thread = [] {
  lowrank::set_cpu_threads(1);
  return true;
}();
}  // namespace

using CpuTypes = ::testing::Types<lowrank::CpuBackend<float>, lowrank::CpuBackend<double>>;
INSTANTIATE_TYPED_TEST_SUITE_P(Cpu, BackendValidation, CpuTypes);
