#pragma once
// Deep matrix factorization by plain gradient descent, full width and compressed (MATH.md
// section 2), written once over the backend seam of lowrank/core/backend.hpp (check_train_backend):
// ReferenceBackend (mpreal), CpuBackend<float|double> (cblas_?gemm, ?gesdd) and CudaBackend
// (cuBLAS, cuSOLVER, on device matrices). The trainers hold the backend's matrices (Matrix): the
// layers, the target, the mask and the residual live where the backend computes, every product is
// the backend's gemm and the element-wise work of a step (the masked residual, the updates) its
// masked_residual and axpby, so a step moves nothing between host and device but two sums. What
// runs on the host, once: the problem (make_setup: the target's and Deep LoRA's products through
// the backend, then brought back), the orthogonalizations (one QR per layer at the start, one
// d x 2r QR for the compression, Eigen's HouseholderQR on T), and at recorded steps the product
// and layers an observer asks for (downloaded only then).
//
// Why the reference runs this in MPFR: the invariance theorem is an identity of exact
// arithmetic (d - 2r singular values of every layer equal rho(t)); at p bits the computed
// trajectory differs from the exact one by ~2^-p, so at 128-256 bits a deviation of 1e-16 would
// be a real violation, not rounding, and float64 runs can be judged against a trajectory whose
// own error is negligible.
#include <Eigen/QR>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/matrix.hpp"
#include "lowrank/core/scalar.hpp"
#include "lowrank/dynamics/config.hpp"

namespace lowrank::dynamics {

// The problem in the working precision T.
template <class T> struct Setup {
  Index depth = 0, width = 0, rank = 0;
  Mat<T> target;            // Phi = (U diag(s)) V^T formed in T: rank r to T's precision
  Mat<T> mask;              // Omega (empty under full observation)
  bool full = true;
  T c, eps, eta, lambda, gamma;
  T recovery_norm;          // ||(1 - Omega) .* Phi||_F, or ||Phi||_F under full observation
  std::vector<Mat<T>> W0;   // eps O_l, O_l Haar orthogonal in T
  // Deep LoRA (Config::lora_samples > 0): loss c/2 ||P X + A||_F^2 with A = W0 X - Y.
  bool regression = false;
  Mat<T> X, A;
};

// Q (m x k) of the thin QR of B, with R's diagonal signs moved into Q; throws when B's columns
// are numerically dependent (|R_jj| <= m u max |R_ii|).
template <class T> Mat<T> orthonormal(const Mat<T>& B, const char* what) {
  const Index m = B.rows(), k = B.cols();
  Eigen::HouseholderQR<Mat<T>> qr(B);
  Mat<T> q = qr.householderQ() * Mat<T>::Identity(m, k);
  using std::abs;
  T rmax(0), rmin(0);
  for (Index j = 0; j < k; ++j) {
    const T rjj = qr.matrixQR()(j, j);
    if (rjj < T(0)) q.col(j) *= T(-1);
    rmax = j == 0 ? T(abs(rjj)) : std::max(rmax, T(abs(rjj)));
    rmin = j == 0 ? T(abs(rjj)) : std::min(rmin, T(abs(rjj)));
  }
  if (!(rmin > T(double(m)) * ScalarTraits<T>::unit_roundoff() * rmax))
    throw Error(std::string(what) + ": the " + shape_str(m, k) + " block to orthonormalize is numerically rank deficient");
  return q;
}

// A host matrix as the backend sees it: the matrix itself for a host backend (no copy), an
// uploaded copy otherwise (an empty one stays empty, not uploaded).
template <class Backend> class Resident {
 public:
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  Resident(Backend& be, const Mat<T>& h) {
    if constexpr (host_resident_v<Backend>) host_ = &h;
    else if (h.size()) own_ = be.upload(h);
  }
  const M& get() const {
    if constexpr (host_resident_v<Backend>) return *host_;
    else return own_;
  }

 private:
  const Mat<T>* host_ = nullptr;
  M own_;
};

// op(A) op(B) of host matrices by the backend's gemm, brought back to the host (setup only).
template <class Backend>
Mat<typename Backend::Scalar> host_product(Backend& be, bool trans_a, const Mat<typename Backend::Scalar>& A,
                                           bool trans_b, const Mat<typename Backend::Scalar>& B) {
  using T = typename Backend::Scalar;
  const Resident<Backend> a(be, A), b(be, B);
  matrix_t<Backend> C;
  be.gemm(trans_a, trans_b, T(1), a.get(), b.get(), T(0), C);
  return lowrank::detail::to_host(be, std::move(C));
}

template <class Backend>
Setup<typename Backend::Scalar> make_setup(Backend& be, const Config& cfg, const ProblemData& p) {
  using T = typename Backend::Scalar;
  Setup<T> s;
  s.depth = cfg.depth, s.width = cfg.width, s.rank = cfg.rank;
  const Mat<T> us = p.target_u.cast<T>() * p.target_s.cast<T>().asDiagonal();
  s.target = host_product(be, false, us, true, Mat<T>(p.target_v.cast<T>()));
  s.full = p.mask.size() == 0;
  if (!s.full) {
    s.mask = p.mask.cast<T>();
    s.recovery_norm = s.target.cwiseProduct(Mat<T>((T(1) - s.mask.array()).matrix())).norm();
  } else {
    s.recovery_norm = s.target.norm();
  }
  s.c = T(1) / T(double(p.observed_count));
  s.eps = T(cfg.eps), s.eta = T(cfg.eta), s.lambda = T(cfg.weight_decay), s.gamma = T(cfg.gamma);
  for (const MatrixXd& g : p.gauss) s.W0.push_back(s.eps * orthonormal<T>(Mat<T>(g.cast<T>()), "Haar start"));
  if (p.lora_x.size()) {
    s.regression = true;
    s.X = p.lora_x.cast<T>();
    const Mat<T> W0 = p.lora_w0.cast<T>();
    const Mat<T> W0X = host_product(be, false, W0, false, s.X);
    const Mat<T> Y = host_product(be, false, Mat<T>(W0 + s.target), false, s.X);  // the data: Y = (W0 + Phi) X
    s.A = W0X - Y;
  }
  return s;
}

template <class T> struct Eval {
  T loss;      // c/2 ||Omega .* (P - Phi)||_F^2
  T recovery;  // relative error on the unobserved entries (all entries under full observation)
};

// The problem's matrices where the backend computes (a trainer's own; on a host backend they are
// Setup's, not copied).
template <class Backend> struct Operands {
  using T = typename Backend::Scalar;
  Operands(Backend& be, const Setup<T>& s) : target(be, s.target), mask(be, s.mask), X(be, s.X), A(be, s.A) {}
  Resident<Backend> target, mask, X, A;
};

// E <- the gradient of the loss with respect to the product P; returns the loss and the recovery
// error of P. Completion / sensing: E = c Omega .* (P - Phi), one pass over the d^2 entries by
// masked_residual. Deep LoRA: R = P X + A, loss c/2 ||R||^2, E = c R X^T; recovery ||P - Phi||_F
// / ||Phi||_F.
template <class Backend>
Eval<typename Backend::Scalar> residual(Backend& be, const Setup<typename Backend::Scalar>& s,
                                        const Operands<Backend>& o, const matrix_t<Backend>& P,
                                        matrix_t<Backend>& E) {
  using T = typename Backend::Scalar;
  using std::sqrt;
  if (!s.regression) {
    const ResidualSums<T> r = be.masked_residual(P, o.target.get(), o.mask.get(), s.c, E);
    return {s.c / T(2) * r.seen, T(sqrt(r.unseen)) / s.recovery_norm};
  }
  matrix_t<Backend> R, D = be.copy(P);
  be.gemm(false, false, T(1), P, o.X.get(), T(0), R);
  be.axpby(T(1), o.A.get(), T(1), R);  // R += A
  be.gemm(false, true, s.c, R, o.X.get(), T(0), E);
  be.axpby(T(-1), o.target.get(), T(1), D);  // D = P - Phi
  return {s.c / T(2) * be.squared_norm(R), T(sqrt(be.squared_norm(D))) / s.recovery_norm};
}

// The full-width network W_L ... W_1 (W[0] is W_1).
template <class Backend> class FullTrainer {
 public:
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  FullTrainer(Backend& be, const Setup<T>& s) : be_(be), s_(s), ops_(be, s) {
    for (const Mat<T>& w : s.W0) W.push_back(be.upload(w));
  }
  std::vector<M> W;

  // Forward pass at the current iterate: prefix products, residual, loss, recovery error.
  Eval<T> evaluate() {
    const Index L = Index(W.size());
    A_.resize(L);
    for (Index l = 1; l < L; ++l) be_.gemm(false, false, T(1), W[l], prefix(l - 1), T(0), A_[l]);
    return residual(be_, s_, ops_, product(), E_);
  }
  const M& product() const { return W.size() == 1 ? W[0] : A_.back(); }

  // grad_{W_1} at the evaluated iterate: W_2^T ... W_L^T E.
  M first_gradient() {
    M delta = be_.copy(E_), next;
    for (Index l = Index(W.size()) - 1; l > 0; --l) {
      be_.gemm(true, false, T(1), W[l], delta, T(0), next);
      std::swap(delta, next);
    }
    return delta;
  }

  // One step from the evaluated iterate, every layer from the same iterate:
  // grad_l = Delta_l A_{l-1}^T with Delta_L = E, Delta_{l-1} = W_l^T Delta_l, A_{l-1} = W_{l-1} ... W_1.
  void update() {
    // W_l <- decay W_l - eta grad_l, element by element fl(fl(-eta g) + fl(decay w)).
    const T decay = T(1) - s_.eta * s_.lambda;
    M delta = std::move(E_), next, grad;
    for (Index l = Index(W.size()) - 1; l >= 0; --l) {
      if (l > 0) {
        be_.gemm(false, true, T(1), delta, prefix(l - 1), T(0), grad);
        be_.gemm(true, false, T(1), W[l], delta, T(0), next);  // old W_l
        be_.axpby(-s_.eta, grad, decay, W[l]);
        std::swap(delta, next);
      } else {
        be_.axpby(-s_.eta, delta, decay, W[0]);
      }
    }
  }

 private:
  const M& prefix(Index l) const { return l == 0 ? W[0] : A_[l]; }
  Backend& be_;
  const Setup<T>& s_;
  Operands<Backend> ops_;
  std::vector<M> A_;  // A_[l] = W_l ... W_0 for l >= 1
  M E_;
};

// The compressed network U M_L ... M_1 V^T: U, V d x 2r (step gamma eta), M_l 2r x 2r (step eta,
// weight decay on the M_l only: U and V are bases, not weights of the full network).
template <class Backend> class CompressedTrainer {
 public:
  using T = typename Backend::Scalar;
  using Matrix = matrix_t<Backend>;
  CompressedTrainer(Backend& be, const Setup<T>& s) : be_(be), s_(s), ops_(be, s) {}
  Matrix U, V;
  std::vector<Matrix> M;

  Eval<T> evaluate() {
    const Index L = Index(M.size());
    K_.resize(L);
    for (Index l = 1; l < L; ++l) be_.gemm(false, false, T(1), M[l], prefix(l - 1), T(0), K_[l]);
    be_.gemm(false, false, T(1), U, prefix(L - 1), T(0), UK_);
    be_.gemm(false, true, T(1), UK_, V, T(0), P_);
    return residual(be_, s_, ops_, P_, E_);
  }
  const Matrix& product() const { return P_; }

  void update() {
    const Index L = Index(M.size());
    const T decay = T(1) - s_.eta * s_.lambda, outer = s_.gamma * s_.eta;
    Matrix EV, delta, next, grad, gU, gV;
    be_.gemm(false, false, T(1), E_, V, T(0), EV);      // E V, d x 2r
    be_.gemm(true, false, T(1), U, EV, T(0), delta);    // U^T E V, 2r x 2r
    if (outer != T(0)) {
      be_.gemm(false, true, T(1), EV, prefix(L - 1), T(0), gU);  // E V K^T
      be_.gemm(true, false, T(1), E_, UK_, T(0), gV);            // E^T U K
    }
    for (Index l = L - 1; l >= 0; --l) {
      if (l > 0) {
        be_.gemm(false, true, T(1), delta, prefix(l - 1), T(0), grad);
        be_.gemm(true, false, T(1), M[l], delta, T(0), next);
        be_.axpby(-s_.eta, grad, decay, M[l]);
        std::swap(delta, next);
      } else {
        be_.axpby(-s_.eta, delta, decay, M[0]);
      }
    }
    if (outer != T(0)) {
      be_.axpby(-outer, gU, T(1), U);
      be_.axpby(-outer, gV, T(1), V);
    }
  }

 private:
  const Matrix& prefix(Index l) const { return l == 0 ? M[0] : K_[l]; }
  Backend& be_;
  const Setup<T>& s_;
  Operands<Backend> ops_;
  std::vector<Matrix> K_;
  Matrix UK_, P_, E_;
};

// MATH.md section 2: G = grad_{W_1} at the start, G = U_G S V_G^T;
// V = orth([V_G[:, :r], W_1(0)^T U_G[:, :r] / eps]), U = W_{L:1}(0) V / eps^L, M_l = eps I_2r.
// G, its SVD and the products on the backend; the d x 2r block B is orthonormalized on the host
// (once: down 2 d r numbers, up d 2r).
template <class Backend>
CompressedTrainer<Backend> compress(Backend& be, const Setup<typename Backend::Scalar>& s) {
  using T = typename Backend::Scalar;
  using M = matrix_t<Backend>;
  const Index d = s.width, r = s.rank, L = s.depth;
  FullTrainer<Backend> full(be, s);
  full.evaluate();
  const ThinSvd<T, M> g = be.svd(full.first_gradient());
  M WtU;
  be.gemm(true, false, T(1) / s.eps, full.W[0], be.left_cols(g.U, r), T(0), WtU);  // W_1(0) = W0[0]
  Mat<T> B(d, 2 * r);
  B.leftCols(r) = lowrank::detail::to_host(be, be.left_cols(g.V, r));
  B.rightCols(r) = lowrank::detail::to_host(be, std::move(WtU));
  CompressedTrainer<Backend> c(be, s);
  c.V = be.upload(orthonormal<T>(B, "compression [V_G, W_1(0)^T U_G / eps]"));
  using std::pow;
  be.gemm(false, false, T(1) / T(pow(s.eps, T(double(L)))), full.product(), c.V, T(0), c.U);
  const Mat<T> start = s.eps * Mat<T>::Identity(2 * r, 2 * r);
  for (Index l = 0; l < L; ++l) c.M.push_back(be.upload(start));
  return c;
}

// rho(t+1) = rho(t) (1 - eta lambda - c eta rho(t)^(2(L-1))), rho(0) = eps.
template <class T> T rho_next(const Setup<T>& s, const T& rho) {
  using std::pow;
  return rho * (T(1) - s.eta * s.lambda - s.c * s.eta * T(pow(rho, T(2.0 * double(s.depth - 1)))));
}

// Singular values of every layer at one recorded step (full runs), rounded to double.
struct Spectrum {
  long step = 0;
  double rho = 0;
  std::vector<VectorXd> layers;  // descending, one vector per layer
};

// Over all layers, the (d - 2r)-th smallest |sigma_i(W_l) - rho| / eps. Computed in T (the
// deviations are far below double's resolution of sigma in the reference).
template <class Backend>
double invariant_deviation(Backend& be, const std::vector<matrix_t<Backend>>& W,
                           const Setup<typename Backend::Scalar>& s, const typename Backend::Scalar& rho,
                           Spectrum* keep = nullptr, long step = 0) {
  using T = typename Backend::Scalar;
  using std::abs;
  double worst = 0;
  const Index k = s.width - 2 * s.rank;
  if (keep) keep->step = step, keep->rho = ScalarTraits<T>::to_double(rho), keep->layers.clear();
  for (const matrix_t<Backend>& w : W) {
    const Vec<T> sv = lowrank::detail::singular_values(be, w);
    std::vector<double> dev(sv.size());
    for (Index i = 0; i < sv.size(); ++i) dev[i] = ScalarTraits<T>::to_double(T(abs(sv(i) - rho) / s.eps));
    if (keep) {
      VectorXd v(sv.size());
      for (Index i = 0; i < sv.size(); ++i) v(i) = ScalarTraits<T>::to_double(sv(i));
      keep->layers.push_back(v);
    }
    std::nth_element(dev.begin(), dev.begin() + (k - 1), dev.end());
    worst = std::max(worst, dev[k - 1]);
  }
  return worst;
}

struct CurvePoint {
  long step = 0;
  double loss = 0, recovery_error = 0, rho = 0;
  double max_invariant_dev = std::numeric_limits<double>::quiet_NaN();  // NaN: not computed
  double seconds = 0;  // wall time since training started (setup and compression excluded)
};

struct Timings {
  double setup_seconds = 0;     // problem data, orthogonalizations, target
  double compress_seconds = 0;  // first gradient, its SVD, the bases (compressed runs)
  double train_seconds = 0;     // the steps (and the curve's bookkeeping)
  double record_seconds = 0;    // of which: singular values for max_invariant_dev
  long steps_done = 0;
  bool reached_stop = false;    // stopped early at --stop-at
};

template <class T> struct RunResult {
  Setup<T> setup;
  std::vector<CurvePoint> curve;
  std::vector<Spectrum> spectra;  // full runs with cfg.invariant: every recorded step
  Mat<T> product;
  Timings timings;
};

// What an observer sees at every recorded step: the product, and the layers of a full run (on the
// host; a device backend downloads them for the observer, at recorded steps only).
template <class T> struct Snapshot {
  long step;
  const Mat<T>& product;
  const std::vector<Mat<T>>* layers;  // nullptr for a compressed run
  T rho;
};
template <class T> using Observer = std::function<void(const Snapshot<T>&)>;

namespace detail_train {
inline double since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

template <class Backend, class T>
void observe(Backend& be, const Observer<T>& obs, long t, const matrix_t<Backend>& product,
             const std::vector<matrix_t<Backend>>* layers, const T& rho) {
  if constexpr (host_resident_v<Backend>) {
    obs(Snapshot<T>{t, product, layers, rho});
  } else {
    const Mat<T> p = be.download(product);
    std::vector<Mat<T>> host_layers;
    if (layers)
      for (const auto& w : *layers) host_layers.push_back(be.download(w));
    obs(Snapshot<T>{t, p, layers ? &host_layers : nullptr, rho});
  }
}

template <class Backend, class Net>
void loop(Backend& be, Net& net, const Config& cfg, RunResult<typename Backend::Scalar>& res,
          const std::vector<matrix_t<Backend>>* layers, const Observer<typename Backend::Scalar>& obs) {
  using T = typename Backend::Scalar;
  using Tr = ScalarTraits<T>;
  const auto t0 = std::chrono::steady_clock::now();
  T rho = res.setup.eps;
  double loss0 = 0;
  for (long t = 0;; ++t) {
    check_interrupted();  // SIGINT/SIGTERM end the run between steps (nothing is written)
    const Eval<T> ev = net.evaluate();
    const double loss = Tr::to_double(ev.loss), rec = Tr::to_double(ev.recovery);
    if (t == 0) loss0 = loss;
    if (!std::isfinite(loss) || loss > 1e6 * loss0) throw Diverged(t, loss, loss0);
    const bool stop = cfg.stop_at > 0 && rec <= cfg.stop_at;
    if (t % cfg.record_every == 0 || t == cfg.steps || stop) {
      CurvePoint cp;
      cp.step = t, cp.loss = loss, cp.recovery_error = rec, cp.rho = Tr::to_double(rho);
      if (layers && cfg.invariant) {
        const auto tr = std::chrono::steady_clock::now();
        Spectrum sp;
        cp.max_invariant_dev = invariant_deviation(be, *layers, res.setup, rho, &sp, t);
        res.spectra.push_back(std::move(sp));
        res.timings.record_seconds += since(tr);
      }
      if (obs) observe(be, obs, t, net.product(), layers, rho);
      cp.seconds = since(t0);
      res.curve.push_back(cp);
    }
    if (t == cfg.steps || stop) {
      res.timings.steps_done = t;
      res.timings.reached_stop = stop;
      break;
    }
    net.update();
    rho = rho_next(res.setup, rho);
  }
  res.product = lowrank::detail::to_host(be, be.copy(net.product()));
  res.timings.train_seconds = since(t0);
}
}  // namespace detail_train

// One training run (full or compressed per cfg.compressed) over the backend.
template <class Backend>
RunResult<typename Backend::Scalar> train(Backend& be, const Config& cfg, const ProblemData& data,
                                          const Observer<typename Backend::Scalar>& obs = {}) {
  static_assert(check_train_backend<Backend>());
  using T = typename Backend::Scalar;
  validate(cfg);
  RunResult<T> res;
  auto t0 = std::chrono::steady_clock::now();
  res.setup = make_setup(be, cfg, data);
  res.timings.setup_seconds = detail_train::since(t0);
  if (cfg.compressed) {
    t0 = std::chrono::steady_clock::now();
    CompressedTrainer<Backend> net = compress(be, res.setup);
    res.timings.compress_seconds = detail_train::since(t0);
    detail_train::loop(be, net, cfg, res, nullptr, obs);
  } else {
    FullTrainer<Backend> net(be, res.setup);
    detail_train::loop(be, net, cfg, res, &net.W, obs);
  }
  return res;
}

}  // namespace lowrank::dynamics
