// lowrank prove: every theorem and bound of MATH.md checked numerically (proofs_checks/).
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/output.hpp"
#include "lowrank/core/results.hpp"
#include "lowrank/proofs_checks/prove.hpp"

namespace lowrank::cli {
namespace {

void add_prove(CLI::App& app) {
  auto o = std::make_shared<proofs_checks::ProveOptions>();
  CLI::App* sub = app.add_subcommand(
      "prove",
      "Check every theorem and bound of MATH.md numerically (optimality, equivalence, nearest minimizer, "
      "mu -> 0 convergence, streaming invariance, floating-point error model, reference self-consistency, "
      "compressible dynamics: invariance, equivalence, completion); "
      "prints one table per check and 'N passed, M failed'; writes CSV and PNG plots; exit 1 if any check fails");
  sub->add_flag("--quick", o->quick, "reduced sweep (what CTest runs), still exercising every check");
  sub->add_option("--out,-o", o->out, "output folder for CSV, gnuplot scripts and PNG plots")->capture_default_str();
  sub->add_option("--bits", o->bits, "reference precision in bits for the high-precision checks (128..4096)")
      ->capture_default_str();
  sub->add_option("--only", o->only, "run only the named checks (optimality, equivalence, nearest, convergence, "
                                     "streaming, fp-model, self-consistency, dynamics-invariance, "
                                     "dynamics-equivalence, dynamics-completion)");
  sub->callback([o]() {
    if (o->bits < 128 || o->bits > 4096)
      throw Error("--bits must be between 128 and 4096 for the proof checks, got " + std::to_string(o->bits));
    // Every check writes into one staging folder, published as --out when all have run (a failed
    // check's tables and plots are its evidence, so they are published too; an error or an
    // interrupt publishes nothing).
    OutputFolder out(o->out);
    proofs_checks::ProveOptions staged = *o;
    staged.out = out.staging();
    // Each check prints its tables, then one MAGMA-style row (core/results.hpp); the run closes
    // with the ALASUM line.
    Summary sum;
    std::vector<ResultRow> rows;
    auto t0 = std::chrono::steady_clock::now();
    proofs_checks::run_checks(staged, [&](const proofs_checks::CheckResult& r) {
      check_interrupted();
      const auto t1 = std::chrono::steady_clock::now();
      std::cout << r.text << std::endl;
      ResultRow row{"proof", r.name, "", std::chrono::duration<double>(t1 - t0).count()};
      row.verdict = r.passed ? "ok" : "failed";
      row.note = r.title;
      t0 = t1;
      sum.add(row.verdict);
      rows.push_back(row);
    });
    out.commit();
    std::cout << "outputs in " << o->out << "\n\n" << result_header() << "\n";
    for (const ResultRow& r : rows) std::cout << format_row(r) << "\n";
    std::cout << sum.line("prove") << std::endl;
    if (sum.failed) throw VerdictExit{1};
  });
}
const RegisterCommand registered(50, add_prove);

}  // namespace
}  // namespace lowrank::cli
