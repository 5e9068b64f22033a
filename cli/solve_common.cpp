#include "solve_common.hpp"

#include <unistd.h>

#include <iostream>

#include "lowrank/core/error.hpp"
#include "lowrank/core/report.hpp"

namespace lowrank::cli {

void add_solve_options(CLI::App* sub, SolveArgs& a, const std::string& acts_help) {
  sub->add_option("--weights,-W", a.weights, "W.npy, m x n (out x in), float32/float64")->required();
  sub->add_option("--acts,-X", a.acts, acts_help)->required();
  sub->add_option("--rank,-r", a.rank, "target rank r, 0 <= r <= min(m, n)")->required();
  sub->add_option("--mu", a.mu, "regularization mu >= 0 (problem P_mu); default 0");
  sub->add_option("--method", a.method, "coala | limit | svd-llm | svd-llm-v2 | pinv | damped")->capture_default_str();
  sub->add_option("--backend", a.backend, "reference (MPFR) | cpu | cuda")->capture_default_str();
  sub->add_option("--bits", a.bits, "reference precision in bits (64..4096)")->capture_default_str();
  sub->add_option("--dtype", a.dtype, "working precision of the cpu/cuda backends: float32 | float64 (refused with\n"
                                      "--backend reference, which computes at --bits)")
      ->capture_default_str();
  sub->add_option("--svd", a.svd, "SVD driver of --backend cuda: gesvd (QR iteration) | gesvdj (Jacobi) | gesvdp (polar) | gesvdr (randomized, top r+1 only)")->capture_default_str();
  sub->add_flag("--verify", a.verify, "--backend cuda: check every SVD on the device (||M V - U S||_F/||M||_F, orthogonality of\n"
                "U and V; three extra GEMMs per SVD), written to report.json");
  sub->add_option("--block", a.block, "tokens per streamed block of X")->capture_default_str();
  sub->add_option("--threads", a.threads, "BLAS threads of --backend cpu (default: OpenBLAS's, OPENBLAS_NUM_THREADS or\n"
                  "the cores); the factors' bits depend on it (README, \"Reproducible results\")");
  sub->add_option("--rank-rtol", a.rank_rtol, "relative threshold for numerical rank decisions: a singular value counts above RTOL * the largest\n"
                  "(default: derived from the data's storage rounding and the working precision, independent of N;\n"
                  "the tolerances used are printed and in report.json)");
  sub->add_option("--out,-o", a.out, "output folder: created, or replaced as a whole when lowrank wrote it (a failed run leaves\n"
                  "the previous one untouched; a non-empty folder lowrank did not write is refused)")->required();
  sub->add_flag("--progress", a.progress, "progress on stderr even when it is not a terminal (tokens, rate, time left; each phase)");
  sub->add_flag("--quiet,-q", a.quiet, "no progress or summary output");
}

void finish_solve_args(CLI::App* sub, SolveArgs& a) { a.dtype_given = sub->get_option("--dtype")->count() > 0; }

PreparedSolve prepare_solve(const SolveArgs& a) {
  PreparedSolve p;
  p.opt.method = parse_method(a.method);
  p.opt.rank = a.rank;
  p.opt.mu = a.mu;
  p.opt.block_rows = a.block;
  p.opt.rank_rtol = a.rank_rtol;
  const Dtype dtype = parse_dtype(a.dtype);
  if (a.backend == "reference" && a.dtype_given)
    throw Error("--dtype " + a.dtype + " sets the working precision of --backend cpu or cuda; --backend reference "
                "computes in MPFR at --bits (drop --dtype, or choose --backend cpu)");
  if (a.svd != "gesvd" && a.backend != "cuda")
    throw Error("--svd " + a.svd + " selects the cuda backend's SVD driver; it has no effect with --backend " + a.backend);
  if (a.verify && a.backend != "cuda")
    throw Error("--verify checks the cuda backend's SVDs on the device; it has no effect with --backend " + a.backend);
  if (a.threads < 0) throw Error("--threads must be >= 1, got " + std::to_string(a.threads));
  if (a.threads > 0 && a.backend != "cpu")
    throw Error("--threads sets the BLAS threads of --backend cpu; it has no effect with --backend " + a.backend);
  if (a.backend == "reference" && (a.bits < 64 || a.bits > 4096))
    throw Error("--bits must be between 64 and 4096, got " + std::to_string(a.bits));
  if (a.acts.empty()) throw Error("--acts: at least one activation file is needed");
  p.req.dtype = dtype;
  p.req.bits = a.bits;
  p.req.quiet = a.quiet;
  p.req.svd = a.svd;
  p.req.verify = a.verify;
  p.req.threads = a.threads;
  // The reference's factors are rounded once to float64.
  p.out_dtype = a.backend == "reference" ? Dtype::float64 : dtype;
  return p;
}

std::unique_ptr<RowBlockSource> open_acts(const std::vector<std::string>& acts) {
  if (acts.size() == 1) return std::make_unique<NpyRowStream>(acts[0], "activations X");
  std::vector<std::unique_ptr<RowBlockSource>> parts;
  std::string name;
  for (const auto& path : acts) {
    parts.push_back(std::make_unique<NpyRowStream>(path, "activations X"));
    name += (name.empty() ? "" : " + ") + path;
  }
  const Index n = parts.front()->cols();
  return std::make_unique<ConcatRowSource>(std::move(parts), n, name);
}

void scan_acts(const std::vector<std::string>& acts) {
  for (const auto& path : acts) NpyRowStream(path, "activations X").require_all_finite();
}

bool progress_wanted(const SolveArgs& a) { return !a.quiet && (a.progress || isatty(2)); }

nlohmann::json solve_report_json(const SolveArgs& a, const SolveReport& rep) {
  nlohmann::json report = to_json(rep);
  nlohmann::json acts = a.acts.size() == 1 ? nlohmann::json(a.acts[0]) : nlohmann::json(a.acts);
  report["inputs"] = {{"weights", a.weights}, {"acts", acts}};
  return report;
}

void write_solve_outputs(OutputFolder& out, const SolveArgs& a, const PreparedSolve& p, const SolvedFactors& f,
                         const nlohmann::json& report,
                         const std::vector<std::pair<std::string, MatrixXd>>& extra_files) {
  if (!f.report.ok()) {
    // A breakdown: its report, and no factors (none of an earlier run either: the folder is replaced).
    write_file_atomic(out.file("report.json"), report.dump(2) + "\n");
    out.commit();
    throw Breakdown(f.report.failure + " (report in " + a.out + "/report.json; no factors written)");
  }
  write_npy(out.file("A.npy"), f.A, p.out_dtype);
  write_npy(out.file("B.npy"), f.B, p.out_dtype);
  for (const auto& [name, m] : extra_files) write_npy(out.file(name), m, Dtype::float64);
  write_file_atomic(out.file("report.json"), report.dump(2) + "\n");
  out.commit();
}

void print_solve_summary(const SolveArgs& a, const SolveReport& rep) {
  if (a.quiet) return;
  std::cout << rep.method << " (" << rep.backend << ", " << rep.precision << "): rank " << rep.rank
            << ", objective ||(W - AB)X||_F = " << rep.objective_decimal << ", gap s_r - s_r+1 = " << rep.gap
            << (rep.unique ? " > " : " <= ") << rep.uniqueness_tol
            << (rep.unique ? " (unique)" : " (NOT unique to the data's precision)") << ", rank(X) = " << rep.x_rank
            << " (singular values > " << rep.x_rank_tol << ")";
  if (rep.wx_rank >= 0) std::cout << ", rank(WX) = " << rep.wx_rank << " (> " << rep.wx_rank_tol << ")";
  for (const auto& note : rep.notes) std::cout << "\n  note: " << note;
  std::cout << "\n  wrote " << a.out << "/{A.npy,B.npy,report.json}\n";
}

}  // namespace lowrank::cli
