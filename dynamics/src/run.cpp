#include "lowrank/dynamics/run.hpp"

#include "lowrank/fast/cpu_backend.hpp"
#include "lowrank/reference/backend.hpp"
#ifdef LOWRANK_HAVE_CUDA
#include "lowrank/fast/cuda_backend.hpp"
#endif

namespace lowrank::dynamics {

namespace {
template <class T> MatrixXd to_d(const Mat<T>& m) {
  MatrixXd out(m.rows(), m.cols());
  for (Index j = 0; j < m.cols(); ++j)
    for (Index i = 0; i < m.rows(); ++i) out(i, j) = ScalarTraits<T>::to_double(m(i, j));
  return out;
}

template <class Backend> RunOutput run_on(Backend& be, const Config& cfg) {
  using T = typename Backend::Scalar;
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
}  // namespace

RunOutput run(const Config& cfg, const BackendChoice& choice) {
  validate(cfg);
  if (choice.backend == "reference") {
    const int saved = reference_bits();
    set_reference_bits(choice.bits);
    struct Restore {
      int bits;
      ~Restore() { mpfr::mpreal::set_default_prec(bits); }
    } restore{saved};
    ReferenceBackend be;
    return run_on(be, cfg);
  }
  if (choice.backend == "cpu") {
    if (choice.dtype == Dtype::float32) {
      CpuBackend<float> be;
      return run_on(be, cfg);
    }
    CpuBackend<double> be;
    return run_on(be, cfg);
  }
  if (choice.backend == "cuda") {
#ifdef LOWRANK_HAVE_CUDA
    const std::string why = CudaBackend<double>::unavailable_reason();
    if (!why.empty()) throw Error(why);
    if (choice.dtype == Dtype::float32) {
      CudaBackend<float> be;
      return run_on(be, cfg);
    }
    CudaBackend<double> be;
    return run_on(be, cfg);
#else
    throw Error("--backend cuda: this build has no CUDA backend (configure with -DLOWRANK_CUDA=ON)");
#endif
  }
  throw Error("--backend must be reference, cpu or cuda for dynamics, got '" + choice.backend + "'");
}

}  // namespace lowrank::dynamics
