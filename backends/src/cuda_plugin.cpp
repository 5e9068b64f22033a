// The CUDA plugin, liblowrank_backends_cuda.so (core/plugin.hpp): the one driver over
// CudaBackend<float|double> (fast/cuda) for `solve --backend cuda`, factors rounded to double for
// output, and the deep-factorization trainer over it for `dynamics --backend cuda`. `lowrank` and
// the Python module load it only for --backend cuda (src/cuda.cpp, dynamics/src/run.cpp), so only
// then are cuBLAS, cuSOLVER and cudart mapped. Without a usable device the backend's constructor
// throws "no CUDA device: <reason>", which the CLI prints as one line and exits 2.
#include <iostream>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/plugin.hpp"
#include "lowrank/dynamics/run.hpp"
#include "lowrank/fast/cuda_backend.hpp"
#include "lowrank/backends/registry.hpp"

namespace lowrank::backends {
namespace {

template <class T>
SolvedFactors run_cuda(const CudaOptions& co, const BackendRequest& req, const MatrixXd& W, RowBlockSource& X,
                       const SolveOptions& opt) {
  CudaBackend<T> be(co);
  Solution<T> s = solve(be, Mat<T>(W.cast<T>()), X, opt);
  SolveReport rep = s.report;
  const DeviceInfo dev = be.device_info();
  rep.notes.push_back("device: " + dev.name + " (sm_" + std::to_string(dev.sm_major) + std::to_string(dev.sm_minor) + ")");
  // Streaming of X: the TSQR or Gram pass of this solve.
  const StreamStats& st = be.last_stream();
  if (st.blocks > 0) {
    rep.extra["stream_blocks"] = double(st.blocks);
    rep.extra["stream_block_rows"] = double(st.block_rows);
    rep.extra["stream_seconds_wall"] = st.seconds_wall;
    rep.extra["stream_seconds_copy"] = st.seconds_copy;
    rep.extra["stream_seconds_compute"] = st.seconds_compute;
    rep.extra["stream_seconds_host_fill"] = st.seconds_host_fill;
    rep.extra["stream_seconds_host_starved"] = st.seconds_host_starved;
    rep.extra["stream_h2d_hidden_fraction"] = st.hidden_fraction;
    if (st.what == "tsqr" && st.blocks > 1 && 2 * st.block_rows < st.n)
      rep.notes.push_back("streaming TSQR with blocks of " + std::to_string(st.block_rows) + " < n / 2 = " +
                          std::to_string(st.n / 2) + " rows factors " +
                          std::to_string(1.0 + 2.0 * double(st.n) / (3.0 * double(st.block_rows))) +
                          "x the useful flops; a --block of a few n is faster");
  }
  // Every SVD of the solve: driver and accuracy, in call order.
  const auto& log = be.svd_log();
  rep.extra["svd_calls"] = double(log.size());
  for (std::size_t i = 0; i < log.size(); ++i) {
    const SvdCallInfo& c = log[i];
    const std::string key = "svd" + std::to_string(i) + "_";
    if (co.verify) {  // --verify: the device-side checks of this SVD
      rep.extra[key + "residual"] = c.residual;
      rep.extra[key + "orth_u"] = c.orth_u;
      rep.extra[key + "orth_v"] = c.orth_v;
    }
    rep.extra[key + "seconds"] = c.seconds;
    rep.extra[key + "k"] = double(c.k);
    rep.notes.push_back("svd " + std::to_string(i) + ": " + c.driver + " on " + shape_str(c.m, c.n) + ", k = " +
                        std::to_string(c.k) +
                        (co.verify ? ", ||M V - U S||_F/||M||_F = " + std::to_string(c.residual) : std::string()) +
                        (c.note.empty() ? "" : " (" + c.note + ")"));
  }
  if (co.svd == SvdDriver::gesvdr)
    rep.notes.push_back("--svd gesvdr: each SVD returned only its top r + 1 triplets, so singular_values, "
                        "x_rank and eckart_young_tail cover those alone (lower bounds)");
  if (!req.quiet && st.blocks > 0)
    std::cerr << "cuda: " << dev.name << ", " << st.what << " over " << st.blocks << " blocks of " << st.block_rows
              << " rows, copy hidden " << st.hidden_fraction * 100 << "%\n";
  return SolvedFactors{s.A.template cast<double>(), s.B.template cast<double>(), rep};
}

}  // namespace
}  // namespace lowrank::backends

// The entry points (C linkage, so that dlsym finds them by these names; C++ types cross the
// boundary, so host and plugin come from one build: lowrank_plugin_abi guards that).
extern "C" {

__attribute__((visibility("default"))) int lowrank_plugin_abi() { return lowrank::plugin_abi; }

__attribute__((visibility("default"))) void lowrank_plugin_init(const lowrank::PluginHost* host) {
  lowrank::set_signal_source(host->pending_signal);
}

__attribute__((visibility("default"))) void lowrank_cuda_solve(const lowrank::backends::CudaSolveArgs* a,
                                                                lowrank::backends::SolvedFactors* out) {
  using namespace lowrank;
  using namespace lowrank::backends;
  CudaOptions co;
  co.svd = parse_svd_driver(a->req->svd);
  co.svd_rank = a->opt->rank;
  co.verify = a->req->verify;
  *out = a->req->dtype == Dtype::float32 ? run_cuda<float>(co, *a->req, *a->W, *a->X, *a->opt)
                                         : run_cuda<double>(co, *a->req, *a->W, *a->X, *a->opt);
}

__attribute__((visibility("default"))) void lowrank_cuda_dynamics(const lowrank::dynamics::Config* cfg,
                                                                   lowrank::Dtype dtype,
                                                                   lowrank::dynamics::RunOutput* out) {
  using namespace lowrank;
  const std::string why = CudaBackend<double>::unavailable_reason();
  if (!why.empty()) throw Error(why);
  if (dtype == Dtype::float32) {
    CudaBackend<float> be;
    *out = dynamics::run_on(be, *cfg);
  } else {
    CudaBackend<double> be;
    *out = dynamics::run_on(be, *cfg);
  }
}

}  // extern "C"
