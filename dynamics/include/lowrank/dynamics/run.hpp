#pragma once
// One training run over a backend named at run time (reference | cpu), everything rounded to
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

RunOutput run(const Config& cfg, const BackendChoice& be);

}  // namespace lowrank::dynamics
