#pragma once
// Deep matrix factorization (MATH.md section 2): the parameters of one training run, their
// validation, and the seeded problem data (target factors, mask, Gaussian draws of the start).
//
// Loss: f = c/2 ||Omega .* (W_L ... W_1 - Phi)||_F^2 with c = 1 / |Omega| (the number of
// observed entries; d^2 under full observation). This is the authors' "mean" reduction
// (comp-deep-nets/loss.py divides the half sum of squares by the mask's sum), so their step
// sizes carry over; the rho recursion of MATH.md holds with this c (proofs_checks/README.md).
//
// Target: Phi = U diag(s) V^T, U and V Haar d x r, s linearly spaced from 2 sqrt(d) down to
// sqrt(d) (the range of the singular values the authors pick from a d x d standard Gaussian), so
// entries are O(sqrt(r / d)) and ||Phi||_F ~ sqrt(2.3 r d). Mask: Bernoulli(observed) per entry.
// Every draw comes from its own splitmix64 stream derived from the seed (target, mask, layer l),
// so the start W_l(0) does not change when --observed does.
#include <cstdint>
#include <string>
#include <vector>

#include "lowrank/core/error.hpp"
#include "lowrank/core/matrix.hpp"
#include "lowrank/core/random.hpp"

namespace lowrank::dynamics {

struct Config {
  Index depth = 3;           // L >= 2
  Index width = 0;           // d > 2 r
  Index rank = 0;            // r >= 1
  double observed = 1.0;     // fraction in (0, 1]; 1 = full observation
  double eps = 1e-3;         // W_l(0) = eps O_l
  double eta = 0.0;          // step (inner factors of the compressed network too)
  double weight_decay = 0.0; // lambda >= 0: W <- (1 - eta lambda) W - eta grad
  double gamma = 0.01;       // compressed: outer factors step gamma * eta (0 = frozen)
  long steps = 0;            // gradient steps
  std::uint64_t seed = 0;
  bool compressed = false;
  long record_every = 10;    // curve rows every K steps (and the first and last)
  double stop_at = 0.0;      // stop once the recovery error <= stop_at (0: never)
  bool invariant = true;     // full runs: singular values of every layer at recorded steps
  // Deep LoRA (adaptation by least squares): when lora_samples > 0 the loss is
  // c/2 ||(W0 + W_L ... W_1) X - Y||_F^2, c = 1/(d N), X d x N, Y = (W0 + Phi) X, W0 frozen
  // (Gaussian / sqrt(d)); Phi (the true update) is the target; no mask. lora_whitened: X is Haar
  // orthogonal (N = d, X X^T = I: the invariance theorem applies); else X Gaussian / sqrt(N).
  Index lora_samples = 0;
  bool lora_whitened = false;
  // Rank of the target Phi (the true update); 0: --rank. Separate from the network's --rank so that
  // an adapter of rank r can be fitted to an update of another rank (lowrank reproduce's Deep LoRA
  // section sweeps the adapter rank against a fixed true rank).
  Index target_rank = 0;
  // Deep LoRA on given inputs: X (d x N, N = lora_samples) in place of the Gaussian draw, e.g. a
  // real layer's activations (lowrank dynamics train --lora-inputs X.npy, N x d as every X.npy).
  MatrixXd lora_inputs;
};

// Throws lowrank::Error naming the first parameter out of range ("--width ...").
void validate(const Config& c);

// Thrown when the loss becomes NaN/Inf or exceeds 1e6 x its starting value.
class Diverged : public Error {
 public:
  Diverged(long step, double loss, double loss0);
  long step;
};

// The shared double-precision generator (lowrank/core/random.hpp).
using Rng = SplitMixRng;

// Everything random, in double (exact data: every backend starts from the same numbers; the
// orthogonalizations and the target product are done in the backend's own precision, so that
// the start is orthogonal and the target of rank r to that precision).
struct ProblemData {
  MatrixXd target_u, target_v;   // d x r, Haar
  VectorXd target_s;             // r, descending
  MatrixXd mask;                 // d x d, 0/1 (empty when observed == 1)
  std::vector<MatrixXd> gauss;   // L draws, d x d, standard Gaussian (orthogonalized later)
  MatrixXd lora_w0, lora_x;      // Deep LoRA: frozen W0 (d x d) and inputs X (d x N); else empty
  Index observed_count = 0;      // |Omega|
};
ProblemData make_problem(const Config& c);

}  // namespace lowrank::dynamics
