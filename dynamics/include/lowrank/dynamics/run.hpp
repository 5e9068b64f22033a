#pragma once
// One training run over a backend named at run time (reference | cpu | cuda), everything rounded to
// double for output: what `lowrank dynamics train`, the tests and the benchmark call.
#include <string>
#include <vector>

#include "lowrank/core/npy.hpp"
#include "lowrank/dynamics/config.hpp"
#include "lowrank/dynamics/trainer.hpp"

namespace lowrank::dynamics {

struct BackendChoice {
  std::string backend = "cpu";   // reference | cpu | cuda (when built with LOWRANK_CUDA)
  Dtype dtype = Dtype::float64;  // cpu, cuda
  int bits = 256;                // reference
};

struct RunOutput {
  MatrixXd target, mask;          // Phi (rounded once), Omega (empty under full observation)
  MatrixXd lora_w0, lora_x;       // Deep LoRA: frozen W0 and inputs X (empty otherwise)
  std::vector<MatrixXd> init;     // full-width W_l(0), rounded once
  MatrixXd product;               // final W_L ... W_1 (compressed: U M_L ... M_1 V^T)
  std::vector<CurvePoint> curve;
  std::vector<Spectrum> spectra;  // full runs: singular values of every layer at recorded steps
  Timings timings;
  double loss_scale = 0;          // c = 1 / |Omega|
  std::string precision;          // "float64", "mpfr256", ...
};

// One run on a backend object: what run() does once it has built the backend (also called by the
// CUDA plugin, backends/src/cuda_plugin.cpp, with a CudaBackend).
template <class Backend> RunOutput run_on(Backend& be, const Config& cfg) {
  using T = typename Backend::Scalar;
  const auto to_d = [](const Mat<T>& m) {
    MatrixXd out(m.rows(), m.cols());
    for (Index j = 0; j < m.cols(); ++j)
      for (Index i = 0; i < m.rows(); ++i) out(i, j) = ScalarTraits<T>::to_double(m(i, j));
    return out;
  };
  const ProblemData data = make_problem(cfg);
  RunResult<T> r = train(be, cfg, data);
  RunOutput out;
  out.target = to_d(r.setup.target);
  out.mask = data.mask;
  out.lora_w0 = data.lora_w0;
  out.lora_x = data.lora_x;
  for (const Mat<T>& w : r.setup.W0) out.init.push_back(to_d(w));
  out.product = to_d(r.product);
  out.curve = std::move(r.curve);
  out.spectra = std::move(r.spectra);
  out.timings = r.timings;
  out.loss_scale = 1.0 / double(data.observed_count);
  out.precision = ScalarTraits<T>::name();
  return out;
}

// Builds the backend named in `be` and runs; --backend cuda loads the CUDA plugin
// (core/plugin.hpp) on first use.
RunOutput run(const Config& cfg, const BackendChoice& be);

}  // namespace lowrank::dynamics
