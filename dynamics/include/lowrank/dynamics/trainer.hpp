#pragma once
// Deep matrix factorization by plain gradient descent, full width and compressed (MATH.md
// section 2), written once over a linear-algebra backend: Scalar, gemm and svd of the seam in
// lowrank/core/backend.hpp (check_train_backend). ReferenceBackend (mpreal), CpuBackend<float/double> (cblas_?gemm, ?gesdd) provide them. Every
// product of two matrices goes through gemm; elementwise work (mask, residual, updates: O(d^2))
// is Eigen on T; the orthogonalizations (one QR per layer at the start, one d x 2r QR for the
// compression) are Eigen's HouseholderQR on T.
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

template <class Backend>
Setup<typename Backend::Scalar> make_setup(Backend& be, const Config& cfg, const ProblemData& p) {
  using T = typename Backend::Scalar;
  Setup<T> s;
  s.depth = cfg.depth, s.width = cfg.width, s.rank = cfg.rank;
  const Mat<T> us = p.target_u.cast<T>() * p.target_s.cast<T>().asDiagonal();
  be.gemm(false, true, T(1), us, Mat<T>(p.target_v.cast<T>()), T(0), s.target);
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
    Mat<T> W0X, Y;
    be.gemm(false, false, T(1), W0, s.X, T(0), W0X);
    be.gemm(false, false, T(1), Mat<T>(W0 + s.target), s.X, T(0), Y);  // the data: Y = (W0 + Phi) X
    s.A = W0X - Y;
  }
  return s;
}

template <class T> struct Eval {
  T loss;      // c/2 ||Omega .* (P - Phi)||_F^2
  T recovery;  // relative error on the unobserved entries (all entries under full observation)
};

// E <- c Omega .* (P - Phi); returns the loss and the recovery error of P. One pass over the
// d^2 entries (read P, Phi, Omega; write E): at d = 1000 this pass, not the O(d^2 r) products,
// is most of a compressed step.
template <class T> Eval<T> residual(const Setup<T>& s, const Mat<T>& P, Mat<T>& E) {
  E.resize(P.rows(), P.cols());
  const Index n = P.size();
  const T* p = P.data();
  const T* phi = s.target.data();
  T* e = E.data();
  T seen(0), unseen(0);
  if (s.full) {
    for (Index k = 0; k < n; ++k) {
      const T x = p[k] - phi[k];
      seen += x * x;
      e[k] = s.c * x;
    }
    unseen = seen;
  } else {
    const T* m = s.mask.data();
    for (Index k = 0; k < n; ++k) {
      const T x = p[k] - phi[k], mx = m[k] * x;  // m is exactly 0 or 1
      seen += mx * x;
      unseen += (x - mx) * x;
      e[k] = s.c * mx;
    }
  }
  using std::sqrt;
  return {s.c / T(2) * seen, T(sqrt(unseen)) / s.recovery_norm};
}

// Deep LoRA: R = P X + A, loss c/2 ||R||^2, E = c R X^T (the gradient with respect to P);
// recovery: ||P - Phi||_F / ||Phi||_F. Other problems: residual() above.
template <class Backend>
Eval<typename Backend::Scalar> residual(Backend& be, const Setup<typename Backend::Scalar>& s,
                                        const Mat<typename Backend::Scalar>& P, Mat<typename Backend::Scalar>& E) {
  using T = typename Backend::Scalar;
  if (!s.regression) return residual(s, P, E);
  Mat<T> R;
  be.gemm(false, false, T(1), P, s.X, T(0), R);
  R += s.A;
  be.gemm(false, true, s.c, R, s.X, T(0), E);
  return {s.c / T(2) * R.squaredNorm(), T((P - s.target).norm()) / s.recovery_norm};
}

// The full-width network W_L ... W_1 (W[0] is W_1).
template <class Backend> class FullTrainer {
 public:
  using T = typename Backend::Scalar;
  FullTrainer(Backend& be, const Setup<T>& s) : W(s.W0), be_(be), s_(s) {}
  std::vector<Mat<T>> W;

  // Forward pass at the current iterate: prefix products, residual, loss, recovery error.
  Eval<T> evaluate() {
    const Index L = Index(W.size());
    A_.resize(L);
    for (Index l = 1; l < L; ++l) be_.gemm(false, false, T(1), W[l], prefix(l - 1), T(0), A_[l]);
    return residual(be_, s_, product(), E_);
  }
  const Mat<T>& product() const { return W.size() == 1 ? W[0] : A_.back(); }

  // grad_{W_1} at the evaluated iterate: W_2^T ... W_L^T E.
  Mat<T> first_gradient() {
    Mat<T> delta = E_, next;
    for (Index l = Index(W.size()) - 1; l > 0; --l) {
      be_.gemm(true, false, T(1), W[l], delta, T(0), next);
      delta.swap(next);
    }
    return delta;
  }

  // One step from the evaluated iterate, every layer from the same iterate:
  // grad_l = Delta_l A_{l-1}^T with Delta_L = E, Delta_{l-1} = W_l^T Delta_l, A_{l-1} = W_{l-1} ... W_1.
  void update() {
    const T decay = T(1) - s_.eta * s_.lambda;
    Mat<T> delta = std::move(E_), next, grad;
    for (Index l = Index(W.size()) - 1; l >= 0; --l) {
      if (l > 0) {
        be_.gemm(false, true, T(1), delta, prefix(l - 1), T(0), grad);
        be_.gemm(true, false, T(1), W[l], delta, T(0), next);  // old W_l
        W[l] = decay * W[l] - s_.eta * grad;
        delta.swap(next);
      } else {
        W[0] = decay * W[0] - s_.eta * delta;
      }
    }
  }

 private:
  const Mat<T>& prefix(Index l) const { return l == 0 ? W[0] : A_[l]; }
  Backend& be_;
  const Setup<T>& s_;
  std::vector<Mat<T>> A_;  // A_[l] = W_l ... W_0 for l >= 1
  Mat<T> E_;
};

// The compressed network U M_L ... M_1 V^T: U, V d x 2r (step gamma eta), M_l 2r x 2r (step eta,
// weight decay on the M_l only: U and V are bases, not weights of the full network).
template <class Backend> class CompressedTrainer {
 public:
  using T = typename Backend::Scalar;
  CompressedTrainer(Backend& be, const Setup<T>& s) : be_(be), s_(s) {}
  Mat<T> U, V;
  std::vector<Mat<T>> M;

  Eval<T> evaluate() {
    const Index L = Index(M.size());
    K_.resize(L);
    for (Index l = 1; l < L; ++l) be_.gemm(false, false, T(1), M[l], prefix(l - 1), T(0), K_[l]);
    be_.gemm(false, false, T(1), U, prefix(L - 1), T(0), UK_);
    be_.gemm(false, true, T(1), UK_, V, T(0), P_);
    return residual(be_, s_, P_, E_);
  }
  const Mat<T>& product() const { return P_; }

  void update() {
    const Index L = Index(M.size());
    const T decay = T(1) - s_.eta * s_.lambda, outer = s_.gamma * s_.eta;
    Mat<T> EV, delta, next, grad, gU, gV;
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
        M[l] = decay * M[l] - s_.eta * grad;
        delta.swap(next);
      } else {
        M[0] = decay * M[0] - s_.eta * delta;
      }
    }
    if (outer != T(0)) {
      U -= outer * gU;
      V -= outer * gV;
    }
  }

 private:
  const Mat<T>& prefix(Index l) const { return l == 0 ? M[0] : K_[l]; }
  Backend& be_;
  const Setup<T>& s_;
  std::vector<Mat<T>> K_;
  Mat<T> UK_, P_, E_;
};

// MATH.md section 2: G = grad_{W_1} at the start, G = U_G S V_G^T;
// V = orth([V_G[:, :r], W_1(0)^T U_G[:, :r] / eps]), U = W_{L:1}(0) V / eps^L, M_l = eps I_2r.
template <class Backend>
CompressedTrainer<Backend> compress(Backend& be, const Setup<typename Backend::Scalar>& s) {
  using T = typename Backend::Scalar;
  const Index d = s.width, r = s.rank, L = s.depth;
  FullTrainer<Backend> full(be, s);
  full.evaluate();
  const ThinSvd<T> g = be.svd(full.first_gradient());
  Mat<T> B(d, 2 * r), WtU;
  B.leftCols(r) = g.V.leftCols(r);
  be.gemm(true, false, T(1) / s.eps, s.W0[0], Mat<T>(g.U.leftCols(r)), T(0), WtU);
  B.rightCols(r) = WtU;
  CompressedTrainer<Backend> c(be, s);
  c.V = orthonormal<T>(B, "compression [V_G, W_1(0)^T U_G / eps]");
  using std::pow;
  be.gemm(false, false, T(1) / T(pow(s.eps, T(double(L)))), full.product(), c.V, T(0), c.U);
  c.M.assign(L, Mat<T>(s.eps * Mat<T>::Identity(2 * r, 2 * r)));
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
double invariant_deviation(Backend& be, const std::vector<Mat<typename Backend::Scalar>>& W,
                           const Setup<typename Backend::Scalar>& s, const typename Backend::Scalar& rho,
                           Spectrum* keep = nullptr, long step = 0) {
  using T = typename Backend::Scalar;
  using std::abs;
  double worst = 0;
  const Index k = s.width - 2 * s.rank;
  if (keep) keep->step = step, keep->rho = ScalarTraits<T>::to_double(rho), keep->layers.clear();
  for (const Mat<T>& w : W) {
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

// What an observer sees at every recorded step: the product, and the layers of a full run.
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

template <class Backend, class Net>
void loop(Backend& be, Net& net, const Config& cfg, RunResult<typename Backend::Scalar>& res,
          const std::vector<Mat<typename Backend::Scalar>>* layers, const Observer<typename Backend::Scalar>& obs) {
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
      if (obs) obs(Snapshot<T>{t, net.product(), layers, rho});
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
  res.product = net.product();
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
