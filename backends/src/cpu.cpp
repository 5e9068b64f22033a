// --backend cpu: CpuBackend<float> or <double> (LAPACK/OpenBLAS) under the one driver, per
// --dtype; X streamed in --block rows. The report gains the
// backend's own numbers in report.extra: GFLOP/s per phase, bytes held while accumulating.
#include "lowrank/core/driver.hpp"
#include "lowrank/fast/cpu_backend.hpp"
#include "lowrank/backends/registry.hpp"

namespace lowrank::backends {
namespace {

template <class T>
SolvedFactors run_cpu(const BackendRequest& req, const MatrixXd& W, RowBlockSource& X, const SolveOptions& opt) {
  if (req.threads > 0) set_cpu_threads(req.threads);
  CpuOptions o;
  CpuBackend<T> be(o);
  Solution<T> s = solve(be, Mat<T>(W.cast<T>()), X, opt);
  SolveReport& rep = s.report;
  const CpuStats& st = be.stats();
  // Accumulation: nominal flops (TSQR counted as the geqrf of X^T, 2Nn^2 - 2n^3/3; Gram as syrk,
  // N n (n + 1)) over the wall time of the phase, reading X included.
  rep.extra["block_rows"] = double(opt.block_rows);
  rep.extra["accumulate_bytes"] = double(st.accumulate_bytes);
  rep.extra["flops_accumulate"] = st.accumulate_flops;
  if (rep.seconds.count("accumulate") && rep.seconds["accumulate"] > 0)
    rep.extra["gflops_accumulate"] = st.accumulate_flops / rep.seconds["accumulate"] * 1e-9;
  double flops = 0, secs = 0;
  for (const auto& [name, k] : st.kernels) {
    rep.extra["gflops_" + name] = k.seconds > 0 ? k.flops / k.seconds * 1e-9 : 0.0;
    rep.extra["seconds_" + name] = k.seconds;
    flops += k.flops;
    secs += k.seconds;
  }
  double total = 0;
  for (const auto& [phase, t] : rep.seconds) total += t;
  rep.extra["flops_lapack_total"] = flops;
  rep.extra["seconds_lapack_total"] = secs;
  if (total > 0) rep.extra["gflops_overall"] = flops / total * 1e-9;  // LAPACK/BLAS flops over the whole solve
  rep.extra["openblas_threads"] = double(cpu_threads());
  rep.blas = {blas_config(), blas_kernel(), cpu_threads()};
  return SolvedFactors{s.A.template cast<double>(), s.B.template cast<double>(), rep};
}

const RegisterBackend registered("cpu", [](const BackendRequest& req, const MatrixXd& W, RowBlockSource& X,
                                           const SolveOptions& opt) {
  return req.dtype == Dtype::float32 ? run_cpu<float>(req, W, X, opt) : run_cpu<double>(req, W, X, opt);
});

}  // namespace
}  // namespace lowrank::backends
