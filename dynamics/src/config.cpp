#include "lowrank/dynamics/config.hpp"

#include <Eigen/QR>
#include <cmath>
#include <cstdio>

namespace lowrank::dynamics {

namespace {
std::string num(double x) {
  char b[64];
  std::snprintf(b, sizeof b, "%g", x);
  return b;
}
// Independent stream per role: the seed mixed with a role tag.
std::uint64_t stream(std::uint64_t seed, std::uint64_t tag) {
  Rng r(seed ^ (0x9e3779b97f4a7c15ULL * (tag + 1)));
  return r.next_u64();
}
MatrixXd gaussian(Index m, Index n, Rng& rng) {
  MatrixXd g(m, n);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < m; ++i) g(i, j) = rng.normal();
  return g;
}
// m x k, orthonormal columns, Haar (QR of a Gaussian, signs of R's diagonal moved into Q).
MatrixXd haar(Index m, Index k, Rng& rng) {
  const MatrixXd g = gaussian(m, k, rng);
  Eigen::HouseholderQR<MatrixXd> qr(g);
  MatrixXd q = qr.householderQ() * MatrixXd::Identity(m, k);
  for (Index j = 0; j < k; ++j)
    if (qr.matrixQR()(j, j) < 0) q.col(j) *= -1;
  return q;
}
}  // namespace

std::uint64_t Rng::next_u64() {
  std::uint64_t z = (s_ += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
double Rng::uniform() { return (double(next_u64() >> 11) + 0.5) * 0x1p-53; }
double Rng::normal() {
  if (have_spare_) {
    have_spare_ = false;
    return spare_;
  }
  const double rad = std::sqrt(-2.0 * std::log(uniform())), th = 2.0 * M_PI * uniform();
  spare_ = rad * std::sin(th);
  have_spare_ = true;
  return rad * std::cos(th);
}

Diverged::Diverged(long s, double loss, double loss0)
    : Error("training diverged at step " + std::to_string(s) + ": loss " + num(loss) + " (start " + num(loss0) +
            "; limit: finite and <= 1e6 x start); lower --eta"),
      step(s) {}

void validate(const Config& c) {
  if (c.depth < 2) throw Error("--depth must be >= 2, got " + std::to_string(c.depth));
  if (c.rank < 1) throw Error("--rank must be >= 1, got " + std::to_string(c.rank));
  if (c.width <= 2 * c.rank)
    throw Error("--width must exceed 2 x --rank (d > 2r), got d = " + std::to_string(c.width) +
                ", r = " + std::to_string(c.rank));
  if (!(c.observed > 0 && c.observed <= 1))
    throw Error("--observed must be a fraction in (0, 1], got " + num(c.observed));
  if (!(c.eps > 0) || !std::isfinite(c.eps)) throw Error("--eps must be a finite number > 0, got " + num(c.eps));
  if (!(c.eta > 0) || !std::isfinite(c.eta)) throw Error("--eta must be a finite number > 0, got " + num(c.eta));
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay))
    throw Error("--weight-decay must be a finite number >= 0, got " + num(c.weight_decay));
  if (!(c.gamma >= 0) || !std::isfinite(c.gamma)) throw Error("--gamma must be a finite number >= 0, got " + num(c.gamma));
  if (c.steps < 0) throw Error("--steps must be >= 0, got " + std::to_string(c.steps));
  if (c.record_every < 1) throw Error("--record-every must be >= 1, got " + std::to_string(c.record_every));
  if (!(c.stop_at >= 0)) throw Error("--stop-at must be >= 0, got " + num(c.stop_at));
  if (c.lora_samples < 0) throw Error("--lora-samples must be >= 0, got " + std::to_string(c.lora_samples));
  if (c.lora_samples > 0 && c.observed < 1) throw Error("--observed: a Deep LoRA problem observes every entry of Y");
  if (c.lora_whitened && c.lora_samples != c.width)
    throw Error("--lora-samples must equal --width for whitened inputs (X orthogonal), got " + std::to_string(c.lora_samples));
}

ProblemData make_problem(const Config& c) {
  validate(c);
  const Index d = c.width, r = c.rank;
  ProblemData p;
  Rng rt(stream(c.seed, 0));
  p.target_u = haar(d, r, rt);
  p.target_v = haar(d, r, rt);
  p.target_s.resize(r);
  for (Index i = 0; i < r; ++i)
    p.target_s(i) = std::sqrt(double(d)) * (2.0 - (r > 1 ? double(i) / double(r - 1) : 0.0));
  p.observed_count = d * d;
  if (c.observed < 1) {
    Rng rm(stream(c.seed, 1));
    p.mask.resize(d, d);
    p.observed_count = 0;
    for (Index j = 0; j < d; ++j)
      for (Index i = 0; i < d; ++i) {
        p.mask(i, j) = rm.uniform() < c.observed ? 1.0 : 0.0;
        p.observed_count += p.mask(i, j) != 0;
      }
    if (p.observed_count == 0)
      throw Error("--observed " + num(c.observed) + " left no entry of the " + shape_str(d, d) +
                  " target observed (seed " + std::to_string(c.seed) + ")");
  }
  for (Index l = 0; l < c.depth; ++l) {
    Rng rl(stream(c.seed, 10 + std::uint64_t(l)));
    p.gauss.push_back(gaussian(d, d, rl));
  }
  if (c.lora_samples > 0) {
    Rng rw(stream(c.seed, 2)), rx(stream(c.seed, 3));
    p.lora_w0 = gaussian(d, d, rw) / std::sqrt(double(d));
    p.lora_x = c.lora_whitened ? haar(d, d, rx) : MatrixXd(gaussian(d, c.lora_samples, rx) / std::sqrt(double(c.lora_samples)));
    p.observed_count = d * c.lora_samples;  // entries of Y
  }
  return p;
}

}  // namespace lowrank::dynamics
