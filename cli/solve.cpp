// lowrank solve: one problem, one method, one backend; writes A.npy, B.npy, report.json.
#include <unistd.h>

#include <iostream>
#include <optional>

#include "commands.hpp"
#include "lowrank/core/driver.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/output.hpp"
#include "lowrank/core/report.hpp"
#include "lowrank/backends/registry.hpp"

namespace lowrank::cli {
namespace {

using backends::BackendRequest;
using backends::SolvedFactors;
using backends::require_backend;
using backends::solve_with_backend;

struct SolveArgs {
  std::string weights, acts, out, method = "coala", backend = "reference", dtype = "float64";
  Index rank = -1;
  double mu = 0.0, rank_rtol = 0.0;
  int bits = 256;
  Index block = 4096;
  bool quiet = false, progress = false;
  bool dtype_given = false;  // --dtype on the command line (it has no meaning for --backend reference)
  std::string svd = "gesvd";
};

// Progress is shown on a terminal, or anywhere with --progress; -q silences it.
bool progress_wanted(const SolveArgs& a) { return !a.quiet && (a.progress || isatty(2)); }

void print_summary(const SolveArgs& a, const SolveReport& r) {
  std::cout << r.method << " (" << r.backend << ", " << r.precision << "): rank " << r.rank
            << ", objective ||(W - AB)X||_F = " << r.objective_decimal << ", gap s_r - s_r+1 = " << r.gap
            << (r.unique ? " > " : " <= ") << r.uniqueness_tol
            << (r.unique ? " (unique)" : " (NOT unique to the data's precision)") << ", rank(X) = " << r.x_rank
            << " (singular values > " << r.x_rank_tol << ")";
  if (r.wx_rank >= 0) std::cout << ", rank(WX) = " << r.wx_rank << " (> " << r.wx_rank_tol << ")";
  for (const auto& note : r.notes) std::cout << "\n  note: " << note;
  std::cout << "\n  wrote " << a.out << "/{A.npy,B.npy,report.json}\n";
}

// Everything that can be refused is refused first: options, the output location (its staging
// folder is created), the inputs' headers and shapes, and every entry of X and W for NaN/Inf.
// Only then does the solve start; its files reach --out together, or not at all.
void run_solve(const SolveArgs& a) {
  SolveOptions opt;
  opt.method = parse_method(a.method);
  opt.rank = a.rank;
  opt.mu = a.mu;
  opt.block_rows = a.block;
  opt.rank_rtol = a.rank_rtol;
  const Dtype dtype = parse_dtype(a.dtype);
  if (a.backend == "reference" && a.dtype_given)
    throw Error("--dtype " + a.dtype + " sets the working precision of --backend cpu or cuda; --backend reference "
                "computes in MPFR at --bits (drop --dtype, or choose --backend cpu)");
  if (a.svd != "gesvd" && a.backend != "cuda")
    throw Error("--svd " + a.svd + " selects the cuda backend's SVD driver; it has no effect with --backend " + a.backend);
  if (a.backend == "reference" && (a.bits < 64 || a.bits > 4096))
    throw Error("--bits must be between 64 and 4096, got " + std::to_string(a.bits));
  require_backend(a.backend);

  OutputFolder out(a.out);
  const MatrixXd W = read_matrix(a.weights, "weights W");
  NpyRowStream X(a.acts, "activations X");
  validate_problem(W.rows(), W.cols(), X, opt);
  X.require_all_finite();

  BackendRequest req;
  req.dtype = dtype;
  req.bits = a.bits;
  req.quiet = a.quiet;
  req.svd = a.svd;
  std::optional<ProgressSource> progress;
  RowBlockSource* source = &X;
  if (progress_wanted(a)) {
    progress.emplace(X, a.backend, a.progress);
    source = &*progress;
    opt.on_phase = [&progress](const std::string& what) { progress->phase(what); };
  }
  SolvedFactors f = solve_with_backend(a.backend, req, W, *source, opt);
  progress.reset();
  nlohmann::json report = to_json(f.report);
  report["inputs"] = {{"weights", a.weights}, {"acts", a.acts}};

  if (f.report.status != "ok") {
    // A breakdown: its report, and no factors (none of an earlier run either: the folder is replaced).
    write_file_atomic(out.file("report.json"), report.dump(2) + "\n");
    out.commit();
    throw Breakdown(f.report.failure + " (report in " + a.out +
                    "/report.json; no factors written)");
  }
  // Factors are stored in the working precision (a checker judges them against its unit
  // roundoff); the reference's are rounded once to float64.
  const Dtype out_dtype = a.backend == "reference" ? Dtype::float64 : dtype;
  write_npy(out.file("A.npy"), f.A, out_dtype);
  write_npy(out.file("B.npy"), f.B, out_dtype);
  write_file_atomic(out.file("report.json"), report.dump(2) + "\n");
  out.commit();
  if (!a.quiet) print_summary(a, f.report);
}

}  // namespace

namespace {
void add_solve(CLI::App& app) {
  auto a = std::make_shared<SolveArgs>();
  CLI::App* sub = app.add_subcommand("solve", "Solve one context-aware low-rank problem; writes DIR/A.npy (m x r), DIR/B.npy (r x n), DIR/report.json");
  sub->add_option("--weights,-W", a->weights, "W.npy, m x n (out x in), float32/float64")->required();
  sub->add_option("--acts,-X", a->acts, "X.npy, N x n, one row per token (streamed in blocks)")->required();
  sub->add_option("--rank,-r", a->rank, "target rank r, 0 <= r <= min(m, n)")->required();
  sub->add_option("--mu", a->mu, "regularization mu >= 0 (problem P_mu); default 0");
  sub->add_option("--method", a->method, "coala | limit | svd-llm | svd-llm-v2 | pinv | damped")->capture_default_str();
  sub->add_option("--backend", a->backend, "reference (MPFR) | cpu | cuda")->capture_default_str();
  sub->add_option("--bits", a->bits, "reference precision in bits (64..4096)")->capture_default_str();
  CLI::Option* dtype_opt =
      sub->add_option("--dtype", a->dtype, "working precision of the cpu/cuda backends: float32 | float64 (refused with\n"
                                           "--backend reference, which computes at --bits)")
          ->capture_default_str();
  sub->add_option("--svd", a->svd, "SVD driver of --backend cuda: gesvd (QR iteration) | gesvdj (Jacobi) | gesvdp (polar) | gesvdr (randomized, top r+1 only)")->capture_default_str();
  sub->add_option("--block", a->block, "tokens per streamed block of X")->capture_default_str();
  sub->add_option("--rank-rtol", a->rank_rtol, "relative threshold for numerical rank decisions: a singular value counts above RTOL * the largest\n"
                  "(default: derived from the data's storage rounding and the working precision, independent of N;\n"
                  "the tolerances used are printed and in report.json)");
  sub->add_option("--out,-o", a->out, "output folder: created, or replaced as a whole when lowrank wrote it (a failed run leaves\n"
                  "the previous one untouched; a non-empty folder lowrank did not write is refused)")->required();
  sub->add_flag("--progress", a->progress, "progress on stderr even when it is not a terminal (tokens, rate, time left; each phase)");
  sub->add_flag("--quiet,-q", a->quiet, "no progress or summary output");
  sub->callback([a, dtype_opt]() {
    a->dtype_given = dtype_opt->count() > 0;
    run_solve(*a);
  });
}
const RegisterCommand registered(10, add_solve);
}  // namespace

}  // namespace lowrank::cli
