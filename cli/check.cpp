// lowrank check: judges a candidate A, B against a stored case or a reference computed on the fly
// (test ratios of MATH.md 1.4, core/ratios.hpp). Exit 0 only on PASS, 1 on FAIL, 2 on refused input.
#include <cstdlib>
#include <iostream>

#include "commands.hpp"
#include "lowrank/backends/judge.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/ratios.hpp"
#include "lowrank/data/corpus.hpp"
#include "lowrank/reference/mp.hpp"

namespace lowrank::cli {
namespace {

struct CheckArgs {
  std::string case_dir, weights, acts, a, b;
  Index rank = -1;
  double mu = 0.0;
  int bits = 256;
  int ratio_version = kRatioVersion;
  int achievable_samples = 5;
  bool json = false;
};

void run_check(const CheckArgs& a) {
  using namespace lowrank::data;
  // Options first: nothing expensive (the on-the-fly reference) before they are known to be valid.
  backends::JudgeOptions jopt;
  jopt.ratio_version = a.ratio_version;
  jopt.achievable_samples = a.achievable_samples;
  backends::validate(jopt);
  const bool by_case = !a.case_dir.empty();
  if (by_case == (!a.weights.empty() || !a.acts.empty()))
    throw Error("give either --case DIR, or --weights W.npy --acts X.npy --rank R [--mu MU]");
  std::string name;
  MatrixXd W;
  ReferenceSolution ref;
  std::unique_ptr<NpyRowStream> X;
  if (by_case) {
    StoredCase sc = load_case(a.case_dir);
    name = sc.meta.value("name", a.case_dir);
    W = read_matrix(sc.w_path, "weights W");
    X = std::make_unique<NpyRowStream>(sc.x_path, "activations X");
    ref = std::move(sc.ref);
  } else {
    if (a.weights.empty() || a.acts.empty() || a.rank < 0)
      throw Error("--weights, --acts and --rank are all needed without --case");
    name = a.weights + " / " + a.acts;
    W = read_matrix(a.weights, "weights W");
    X = std::make_unique<NpyRowStream>(a.acts, "activations X");
    ref = compute_reference(W, *X, a.rank, a.mu, a.bits);
  }
  const CandidateFactors cand = load_candidate(a.a, a.b);
  const CandidateCheck res = backends::judge(W, *X, ref, cand, jopt);
  if (a.json) {
    nlohmann::json j = to_json(res);
    j["case"] = name;
    j["candidate"]["A"] = a.a;
    j["candidate"]["B"] = a.b;
    std::cout << j.dump(2) << "\n";
  } else {
    std::cout << "lowrank check: " << name << "\n" << format_check(res);
  }
  std::cout.flush();
  // FAIL: exit 1, SUSPECT: exit 5; the verdict is printed (main() reserves 2 for refused input).
  if (res.verdict != Verdict::pass) throw VerdictExit{verdict_exit_code(res.verdict)};
}

void add_check(CLI::App& app) {
  auto a = std::make_shared<CheckArgs>();
  CLI::App* sub = app.add_subcommand(
      "check", "Judge a candidate A.npy (m x r), B.npy (r x n) against a case or a reference computed on the fly;\n"
               "prints the test ratios (README: Checking your implementation). Exit 0 PASS, 1 FAIL, 5 SUSPECT, 2 refused input");
  sub->add_option("--case,-c", a->case_dir, "a case folder of the corpus (W.npy, X.npy, case.json, reference)");
  sub->add_option("--weights,-W", a->weights, "W.npy, m x n (instead of --case; the reference is computed)");
  sub->add_option("--acts,-X", a->acts, "X.npy, N x n, one row per token (with --weights)");
  sub->add_option("--rank,-r", a->rank, "target rank r (with --weights)");
  sub->add_option("--mu", a->mu, "regularization mu >= 0 (with --weights)");
  sub->add_option("--bits", a->bits, "precision of the on-the-fly reference")->capture_default_str();
  sub->add_option("--a,-A", a->a, "candidate A.npy (m x r), float32 or float64")->required();
  sub->add_option("--b,-B", a->b, "candidate B.npy (r x n), float32 or float64")->required();
  sub->add_option("--ratio-version", a->ratio_version,
                  "2: structured denominators and the SUSPECT verdict; 1: the denominators before 2026-12, PASS/FAIL only")
      ->capture_default_str();
  sub->add_option("--achievable-samples", a->achievable_samples,
                  "stable solves (own COALA at the candidate's precision, on seeded backward perturbations) behind the\n"
                  "achievable-accuracy ratio; 0 turns the SUSPECT verdict off")
      ->capture_default_str();
  sub->add_flag("--json", a->json, "print the result as JSON");
  sub->callback([a]() { run_check(*a); });
}
const RegisterCommand registered(20, add_check);

}  // namespace
}  // namespace lowrank::cli
