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
}  // namespace


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
  if (c.target_rank < 0 || c.target_rank > c.width)
    throw Error("--target-rank must be between 1 and --width (0: --rank), got " + std::to_string(c.target_rank));
  if (c.lora_inputs.size() > 0) {
    if (c.lora_whitened) throw Error("--lora-inputs: given inputs are not whitened; drop --lora-whitened");
    if (c.lora_inputs.rows() != c.width)
      throw Error("--lora-inputs: the inputs have " + std::to_string(c.lora_inputs.rows()) + " features, --width is " +
                  std::to_string(c.width) + " (they must be equal: the adapter is d x d)");
    if (c.lora_samples != c.lora_inputs.cols())
      throw Error("--lora-samples must equal the number of given inputs, " + std::to_string(c.lora_inputs.cols()) +
                  ", got " + std::to_string(c.lora_samples));
    if (!c.lora_inputs.allFinite()) throw Error("--lora-inputs: the inputs contain NaN or Inf");
  }
  if (c.lora_whitened && c.lora_samples != c.width)
    throw Error("--lora-samples must equal --width for whitened inputs (X orthogonal), got " + std::to_string(c.lora_samples));
}

ProblemData make_problem(const Config& c) {
  validate(c);
  const Index d = c.width, r = c.target_rank > 0 ? c.target_rank : c.rank;
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
    p.lora_x = c.lora_inputs.size() ? c.lora_inputs
               : c.lora_whitened ? haar(d, d, rx)
                                 : MatrixXd(gaussian(d, c.lora_samples, rx) / std::sqrt(double(c.lora_samples)));
    p.observed_count = d * c.lora_samples;  // entries of Y
  }
  return p;
}

}  // namespace lowrank::dynamics
