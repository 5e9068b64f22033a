// lowrank dynamics train: deep matrix factorization / completion by gradient descent, full width
// or compressed (MATH.md section 2; dynamics/). Writes the run into a temporary folder next to
// --out and renames it into place: the folder appears complete or not at all.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "commands.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/output.hpp"
#include "lowrank/dynamics/run.hpp"

namespace lowrank::cli {
namespace {

namespace fs = std::filesystem;

struct TrainArgs {
  dynamics::Config cfg;
  std::string backend = "cpu", dtype = "float64", out, compare, lora_inputs;
  int bits = 256;
  bool quiet = false, plot = false;
};

std::string g17(double x) {
  if (std::isnan(x)) return "";
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", x);
  return b;
}

std::string curve_csv(const std::vector<dynamics::CurvePoint>& curve) {
  std::string s = "step,loss,recovery_error,rho,max_invariant_dev,seconds\n";
  for (const auto& p : curve)
    s += std::to_string(p.step) + "," + g17(p.loss) + "," + g17(p.recovery_error) + "," + g17(p.rho) + "," +
         g17(p.max_invariant_dev) + "," + g17(p.seconds) + "\n";
  return s;
}

nlohmann::json run_json(const TrainArgs& a, const dynamics::RunOutput& r) {
  const auto& c = a.cfg;
  const auto& t = r.timings;
  nlohmann::json j = {{"depth", c.depth}, {"width", c.width}, {"rank", c.rank}, {"target_rank", c.target_rank > 0 ? c.target_rank : c.rank}, {"observed", c.observed},
                      {"eps", c.eps}, {"eta", c.eta}, {"weight_decay", c.weight_decay}, {"gamma", c.gamma},
                      {"steps", c.steps}, {"seed", c.seed}, {"compressed", c.compressed}, {"backend", a.backend},
                      {"dtype", r.precision}, {"loss_scale", r.loss_scale}};
  j["loss"] = "loss_scale/2 * ||mask .* (W_L...W_1 - target)||_F^2, loss_scale = 1/(number of observed entries)";
  j["target"] = "U diag(s) V^T, U, V Haar d x r, s linearly spaced from 2 sqrt(d) to sqrt(d)";
  if (c.lora_samples > 0) {
    j["lora_samples"] = c.lora_samples;
    j["lora_whitened"] = c.lora_whitened;
    j["lora_inputs_given"] = c.lora_inputs.size() > 0;
    j["loss"] = "loss_scale/2 * ||(lora_W0 + W_L...W_1) lora_X - Y||_F^2, Y = (lora_W0 + target) lora_X, loss_scale = 1/(d N)";
  }
  j["record_every"] = c.record_every;
  j["stop_at"] = c.stop_at;
  j["steps_done"] = t.steps_done;
  j["reached_stop_at"] = t.reached_stop;
  if (!r.curve.empty()) {
    j["final_loss"] = r.curve.back().loss;
    j["final_recovery_error"] = r.curve.back().recovery_error;
  }
  j["timings"] = {{"setup_seconds", t.setup_seconds}, {"compress_seconds", t.compress_seconds},
                  {"train_seconds", t.train_seconds}, {"record_seconds", t.record_seconds},
                  {"seconds_per_step", t.steps_done ? (t.train_seconds - t.record_seconds) / double(t.steps_done) : 0.0}};
  return j;
}

void write_run(const fs::path& dir, const TrainArgs& a, const dynamics::RunOutput& r) {
  const std::string d = dir.string();
  write_npy(d + "/target.npy", r.target);
  if (r.mask.size()) write_npy(d + "/mask.npy", r.mask);
  if (r.lora_x.size()) {
    write_npy(d + "/lora_W0.npy", r.lora_w0);
    write_npy(d + "/lora_X.npy", r.lora_x);
  }
  fs::create_directory(dir / "init");
  for (std::size_t l = 0; l < r.init.size(); ++l) write_npy(d + "/init/W" + std::to_string(l + 1) + ".npy", r.init[l]);
  write_npy(d + "/product.npy", r.product);
  write_file_atomic(d + "/curve.csv", curve_csv(r.curve));
  write_file_atomic(d + "/run.json", run_json(a, r).dump(2) + "\n");
}


// ---- --plot: gnuplot (PNG) of the singular values of every layer over time, the d - 2r of them
// nearest rho(t) marked, rho(t) drawn; and the loss / recovery curves, with --compare's run on
// the same axes.
std::string spectrum_dat(const std::vector<dynamics::Spectrum>& spectra, Index d, Index r) {
  std::string s = "# step,layer,sigma,near_rho (1: one of the d - 2r nearest rho(t))\n";
  char b[96];
  for (const auto& sp : spectra)
    for (std::size_t l = 0; l < sp.layers.size(); ++l) {
      const VectorXd& v = sp.layers[l];
      std::vector<std::pair<double, Index>> dev;
      for (Index i = 0; i < v.size(); ++i) dev.push_back({std::abs(v(i) - sp.rho), i});
      std::sort(dev.begin(), dev.end());
      std::vector<int> near(v.size(), 0);
      for (Index k = 0; k < d - 2 * r && k < Index(dev.size()); ++k) near[dev[k].second] = 1;
      for (Index i = 0; i < v.size(); ++i) {
        std::snprintf(b, sizeof b, "%ld,%zu,%.17g,%d\n", sp.step, l + 1, v(i), near[i]);
        s += b;
      }
    }
  return s;
}

std::string run_label(const fs::path& dir) {
  std::ifstream f(dir / "run.json");
  if (!f) throw Error("--compare " + dir.string() + ": no run.json there (not a `lowrank dynamics train` folder)");
  const auto j = nlohmann::json::parse(f, nullptr, false);
  if (j.is_discarded() || !j.contains("compressed")) throw Error("--compare " + (dir / "run.json").string() + ": not a dynamics run.json");
  return j["compressed"].get<bool>() ? "compressed" : "full width";
}

void make_plots(const fs::path& dir, const TrainArgs& a, const dynamics::RunOutput& r) {
  if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) throw Error("--plot needs gnuplot on PATH (apt-get install gnuplot-nox)");
  const std::string me = a.cfg.compressed ? "compressed" : "full width";
  std::string gp = "set terminal pngcairo size 1000,600\nset datafile separator ','\nset logscale y\nset format y '10^{%L}'\n"
                   "set xlabel 'step'\nset key outside\nset output 'loss.png'\nset title 'loss and recovery error'\n"
                   "plot 'curve.csv' every ::1 using 1:2 with lines lw 2 title '" + me + ": loss', "
                   "'curve.csv' every ::1 using 1:3 with lines lw 2 dt 2 title '" + me + ": recovery error'";
  if (!a.compare.empty()) {
    const fs::path other = fs::absolute(a.compare);
    const std::string them = run_label(other) + " (" + a.compare + ")";
    const std::string csv = (other / "curve.csv").string();
    gp += ", '" + csv + "' every ::1 using 1:2 with lines lw 2 title '" + them + ": loss', '" + csv +
          "' every ::1 using 1:3 with lines lw 2 dt 2 title '" + them + ": recovery error'";
  }
  gp += "\n";
  if (!r.spectra.empty()) {
    write_file_atomic((dir / "spectrum.dat").string(), spectrum_dat(r.spectra, a.cfg.width, a.cfg.rank));
    const Index L = a.cfg.depth;
    gp += "set output 'singular_values.png'\nset terminal pngcairo size 1000," +
          std::to_string(300 * L) + "\nunset title\nset multiplot layout " + std::to_string(L) + ",1 title 'singular values of W_l(t); d - 2r = " +
          std::to_string(a.cfg.width - 2 * a.cfg.rank) + " of them on rho(t) (red)'\n";
    for (Index l = 1; l <= L; ++l)
      gp += "set ylabel 'W_" + std::to_string(l) + "'\nplot 'spectrum.dat' using 1:($2==" + std::to_string(l) +
            " && $4==1 ? $3 : 1/0) with points pt 7 ps 0.4 lc rgb 'red' title 'd-2r nearest rho', "
            "'' using 1:($2==" + std::to_string(l) + " && $4==0 ? $3 : 1/0) with points pt 7 ps 0.5 lc rgb 'blue' title 'other 2r', "
            "'curve.csv' using 1:4 every ::1 with lines lc rgb 'black' dt 2 title 'rho(t)'\n";
    gp += "unset multiplot\n";
  }
  write_file_atomic((dir / "plot.gp").string(), gp);
  const std::string cmd = "cd '" + dir.string() + "' && gnuplot plot.gp 2> plot.log";
  if (std::system(cmd.c_str()) != 0) throw Error("--plot: gnuplot failed, see " + (dir / "plot.log").string());
  fs::remove(dir / "plot.log");
}

void run_train(TrainArgs& a) {
  if (!a.lora_inputs.empty()) {
    // X.npy is N x d (one row per token, as everywhere in the project); the trainer's X is d x N.
    a.cfg.lora_inputs = read_matrix(a.lora_inputs, "Deep LoRA inputs").transpose();
    if (a.cfg.lora_samples == 0) a.cfg.lora_samples = a.cfg.lora_inputs.cols();
  }
  dynamics::validate(a.cfg);
  dynamics::BackendChoice be;
  be.backend = a.backend;
  be.dtype = parse_dtype(a.dtype);
  be.bits = a.bits;
  if (a.backend != "reference" && a.backend != "cpu" && a.backend != "cuda")
    throw Error("--backend must be reference, cpu or cuda, got '" + a.backend + "'");
  if (!a.compare.empty() && !a.plot) throw Error("--compare draws into --plot's loss.png; give --plot too");
  if (!a.compare.empty()) run_label(fs::absolute(a.compare));
  if (a.backend == "reference" && (a.bits < 64 || a.bits > 4096))
    throw Error("--bits must be between 64 and 4096, got " + std::to_string(a.bits));
  OutputFolder out(a.out);  // before any work: an unwritable --out is found at once
  const fs::path staging = out.staging();
  dynamics::RunOutput r;
  try {
    r = dynamics::run(a.cfg, be);
  } catch (const dynamics::Diverged& e) {
    std::cerr << "lowrank: error: " << e.what() << " (nothing written)\n";
    throw VerdictExit{exit_code::breakdown};
  }
  write_run(staging, a, r);
  if (a.plot) make_plots(staging, a, r);
  out.commit();
  if (!a.quiet) {
    const auto& last = r.curve.back();
    std::cout << (a.cfg.compressed ? "compressed" : "full") << " (" << a.backend << ", " << r.precision << "): "
              << r.timings.steps_done << " steps, loss " << g17(last.loss) << ", recovery error "
              << g17(last.recovery_error) << ", " << g17(r.timings.train_seconds) << " s\n  wrote " << a.out << "/\n";
  }
}

void add_dynamics(CLI::App& app) {
  CLI::App* dyn = app.add_subcommand("dynamics", "Deep matrix factorization / completion dynamics, full width or compressed (MATH.md section 2)");
  dyn->require_subcommand(1);
  auto a = std::make_shared<TrainArgs>();
  CLI::App* sub = dyn->add_subcommand(
      "train",
      "Train W_L ... W_1 (each d x d, W_l(0) = eps x Haar orthogonal) by plain gradient descent on\n"
      "  loss = c/2 ||Omega .* (W_L ... W_1 - Phi)||_F^2,  c = 1/|Omega| (loss_scale: the mean over observed entries),\n"
      "Phi = U diag(s) V^T of rank r (U, V Haar; s from 2 sqrt(d) down to sqrt(d)), Omega ~ Bernoulli(--observed).\n"
      "--compressed trains U (d x 2r) M_L ... M_1 (2r x 2r) V^T built from the first gradient (inner step eta,\n"
      "outer step gamma eta). Writes DIR/{target.npy, mask.npy, init/W1..WL.npy, product.npy, curve.csv, run.json}.\n"
      "Exit 2: refused parameters (nothing written); exit 3: diverged (nothing written).");
  auto& c = a->cfg;
  sub->add_option("--depth,-L", c.depth, "number of layers L >= 2")->capture_default_str();
  sub->add_option("--width,-d", c.width, "width d (> 2r); every layer is d x d")->required();
  sub->add_option("--rank,-r", c.rank, "rank r of the target")->required();
  sub->add_option("--observed", c.observed, "fraction of observed entries in (0, 1]; 1 = full observation")->capture_default_str();
  sub->add_option("--eps", c.eps, "scale of the orthogonal start")->capture_default_str();
  sub->add_option("--eta", c.eta, "step size; with the mean loss and this target, stable up to about 0.26 d^(4/3)")->required();
  sub->add_option("--weight-decay", c.weight_decay, "lambda: W <- (1 - eta lambda) W - eta grad")->capture_default_str();
  sub->add_option("--gamma", c.gamma, "compressed: step of the outer factors, as a multiple of eta")->capture_default_str();
  sub->add_option("--steps", c.steps, "gradient steps")->required();
  sub->add_option("--seed", c.seed, "seed of target, mask and start")->capture_default_str();
  sub->add_flag("--compressed", c.compressed, "train the compressed network (MATH.md section 2)");
  sub->add_option("--backend", a->backend, "reference (MPFR) | cpu (OpenBLAS) | cuda (cuBLAS, when built with it)")->capture_default_str();
  sub->add_option("--dtype", a->dtype, "cpu / cuda working precision: float32 | float64")->capture_default_str();
  sub->add_option("--bits", a->bits, "reference precision in bits")->capture_default_str();
  sub->add_option("--out,-o", a->out, "output folder")->required();
  sub->add_option("--record-every", c.record_every, "one curve row every K steps (plus the first and last)")->capture_default_str();
  sub->add_option("--stop-at", c.stop_at, "stop once the recovery error is <= this (0: run all steps)")->capture_default_str();
  sub->add_flag_callback("--no-invariant", [a]() { a->cfg.invariant = false; },
                         "skip the singular values behind max_invariant_dev (full runs)");
  sub->add_option("--lora-samples", c.lora_samples,
                  "Deep LoRA: fit W0 + W_L...W_1 to Y = (W0 + target) X by least squares, X d x N (N samples); "
                  "writes lora_W0.npy, lora_X.npy")->capture_default_str();
  sub->add_flag("--lora-whitened", c.lora_whitened, "Deep LoRA: X Haar orthogonal (N = d; the invariance theorem applies)");
  sub->add_option("--lora-inputs", a->lora_inputs,
                  "Deep LoRA on given inputs: X.npy, N x d (one row per token, e.g. a real layer's activations) "
                  "in place of the Gaussian X; --lora-samples defaults to N");
  sub->add_option("--target-rank", c.target_rank, "rank of the target (the true update); 0: --rank")->capture_default_str();
  sub->add_flag("--quiet,-q", a->quiet, "no summary line");
  sub->add_flag("--plot", a->plot, "also write DIR/loss.png and (full runs) DIR/singular_values.png with gnuplot");
  sub->add_option("--compare", a->compare, "with --plot: another run's folder whose curves go on loss.png");
  sub->callback([a]() { run_train(*a); });
}
const RegisterCommand registered(60, add_dynamics);

}  // namespace
}  // namespace lowrank::cli
