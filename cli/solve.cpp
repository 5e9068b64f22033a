// lowrank solve: one problem, one method, one backend; writes A.npy, B.npy, report.json.
#include <filesystem>
#include <iostream>

#include "commands.hpp"
#include "lowrank/core/driver.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/report.hpp"
#include "lowrank/backends/registry.hpp"

namespace lowrank::cli {
namespace {

using backends::BackendRequest;
using backends::SolvedFactors;
using backends::solve_with_backend;

struct SolveArgs {
  std::string weights, acts, out, method = "coala", backend = "reference", dtype = "float64";
  Index rank = -1;
  double mu = 0.0, rank_rtol = 0.0;
  int bits = 256;
  Index block = 4096;
  bool quiet = false;
  bool dtype_given = false;  // --dtype on the command line (it has no meaning for --backend reference)
  std::string svd = "gesvd";
};

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
  if (std::filesystem::exists(a.out) && !std::filesystem::is_directory(a.out))
    throw Error("--out " + a.out + " exists and is not a directory");

  const MatrixXd W = read_matrix(a.weights, "weights W");
  NpyRowStream X(a.acts, "activations X");
  validate_problem(W.rows(), W.cols(), X, opt);

  BackendRequest req;
  req.dtype = dtype;
  req.bits = a.bits;
  req.quiet = a.quiet;
  req.svd = a.svd;
  if (a.svd != "gesvd" && a.backend != "cuda")
    throw Error("--svd " + a.svd + " selects the cuda backend's SVD driver; it has no effect with --backend " + a.backend);
  if (a.backend == "reference" && (a.bits < 64 || a.bits > 4096))
    throw Error("--bits must be between 64 and 4096, got " + std::to_string(a.bits));
  SolvedFactors f = solve_with_backend(a.backend, req, W, X, opt);
  nlohmann::json report = to_json(f.report);
  report["inputs"] = {{"weights", a.weights}, {"acts", a.acts}};

  // Everything is computed; only now does anything reach the disk (each file atomically).
  std::filesystem::create_directories(a.out);
  if (f.report.status != "ok") {
    write_file_atomic(a.out + "/report.json", report.dump(2) + "\n");
    throw Error(f.report.method + " failed: " + f.report.failure + " (report in " + a.out + "/report.json; no factors written)");
  }
  // Factors are stored in the working precision (a checker judges them against its unit
  // roundoff); the reference's are rounded once to float64.
  const Dtype out_dtype = a.backend == "reference" ? Dtype::float64 : dtype;
  write_npy(a.out + "/A.npy", f.A, out_dtype);
  write_npy(a.out + "/B.npy", f.B, out_dtype);
  write_file_atomic(a.out + "/report.json", report.dump(2) + "\n");
  if (!a.quiet) {
    std::cout << f.report.method << " (" << f.report.backend << ", " << f.report.precision << "): rank "
              << f.report.rank << ", objective ||(W - AB)X||_F = " << f.report.objective_decimal
              << ", gap s_r - s_r+1 = " << f.report.gap
              << (f.report.unique ? " > " : " <= ") << f.report.uniqueness_tol
              << (f.report.unique ? " (unique)" : " (NOT unique to the data's precision)") << ", rank(X) = "
              << f.report.x_rank << " (singular values > " << f.report.x_rank_tol << ")";
    if (f.report.wx_rank >= 0)
      std::cout << ", rank(WX) = " << f.report.wx_rank << " (> " << f.report.wx_rank_tol << ")";
    for (const auto& note : f.report.notes) std::cout << "\n  note: " << note;
    std::cout << "\n  wrote " << a.out << "/{A.npy,B.npy,report.json}\n";
  }
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
  sub->add_option("--out,-o", a->out, "output folder (created; files replaced atomically)")->required();
  sub->add_flag("--quiet,-q", a->quiet, "no progress or summary output");
  sub->callback([a, dtype_opt]() {
    a->dtype_given = dtype_opt->count() > 0;
    run_solve(*a);
  });
}
const RegisterCommand registered(10, add_solve);
}  // namespace

}  // namespace lowrank::cli
