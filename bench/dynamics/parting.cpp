// Where the invariance theorem stops (issue 13, item 7): how far the compressed network's
// end-to-end product parts from the full-width network's, step by step, in four settings:
//   (a) full observation, gamma = 0       the theorem's setting: equal up to the rho^L part
//   (b) full observation, gamma = 0.01    outer factors move: no longer the theorem's network
//   (c) 20% observed, gamma = 0           completion: outside the theorem, frozen outer factors
//   (d) 20% observed, gamma = 0.01        the authors' completion setting
// Both networks start from the same full-width start (the compressed one is built from it), on the
// cpu backend in float64. Printed per recorded step: ||P_full - P_comp||_F / ||P_full||_F, the
// rho^L part's share rho^L sqrt(d - 2r) / ||P_full||_F, and each network's recovery error.
// Writes PREFIX.csv and, with gnuplot, PREFIX.png.  Usage: parting [PREFIX]   (about 30 s)
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "lowrank/dynamics/trainer.hpp"
#include "lowrank/fast/cpu_backend.hpp"

using namespace lowrank;

namespace {

struct Row {
  long step;
  double parting, rho_part, rec_full, rec_comp;
};

std::vector<Row> run(dynamics::Config cfg) {
  const dynamics::ProblemData data = dynamics::make_problem(cfg);
  std::vector<Mat<double>> full_products, comp_products;
  std::vector<double> rhos;
  CpuBackend<double> be;
  cfg.invariant = false;
  cfg.compressed = false;
  const auto full = dynamics::train(be, cfg, data, [&](const dynamics::Snapshot<double>& s) {
    full_products.push_back(s.product);
    rhos.push_back(s.rho);
  });
  cfg.compressed = true;
  const auto comp = dynamics::train(be, cfg, data, [&](const dynamics::Snapshot<double>& s) {
    comp_products.push_back(s.product);
  });
  std::vector<Row> rows;
  const std::size_t k = std::min(full_products.size(), comp_products.size());
  for (std::size_t i = 0; i < k; ++i) {
    const double nf = full_products[i].norm();
    Row r;
    r.step = full.curve[i].step;
    r.parting = (full_products[i] - comp_products[i]).norm() / nf;
    r.rho_part = std::pow(rhos[i], double(cfg.depth)) * std::sqrt(double(cfg.width - 2 * cfg.rank)) / nf;
    r.rec_full = full.curve[i].recovery_error;
    r.rec_comp = comp.curve[i].recovery_error;
    rows.push_back(r);
  }
  return rows;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string prefix = argc > 1 ? argv[1] : "dynamics_parting";
  set_cpu_threads(1);
  struct Setting {
    const char* name;
    double observed, gamma;
  };
  const Setting settings[] = {{"(a) full observation, gamma = 0", 1.0, 0.0},
                              {"(b) full observation, gamma = 0.01", 1.0, 0.01},
                              {"(c) 20% observed, gamma = 0", 0.2, 0.0},
                              {"(d) 20% observed, gamma = 0.01", 0.2, 0.01}};
  std::ofstream csv(prefix + ".csv");
  csv << "setting,step,parting,rho_part,recovery_full,recovery_compressed\n";
  std::printf("d = 100, r = 3, L = 3, eps = 1e-2, eta = 80, 20000 steps, seed 1 (cpu, float64)\n");
  std::printf("%-36s %7s %12s %12s %14s %14s\n", "setting", "step", "parting", "rho^L part", "recovery full",
              "recovery comp");
  int idx = 0;
  for (const Setting& s : settings) {
    dynamics::Config cfg;
    cfg.depth = 3, cfg.width = 100, cfg.rank = 3, cfg.eps = 1e-2, cfg.eta = 80, cfg.steps = 20000;
    cfg.record_every = 100, cfg.seed = 1, cfg.observed = s.observed, cfg.gamma = s.gamma;
    const std::vector<Row> rows = run(cfg);
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const Row& r = rows[i];
      csv << idx << "," << r.step << "," << r.parting << "," << r.rho_part << "," << r.rec_full << "," << r.rec_comp << "\n";
      if (r.step % 4000 == 0 || i + 1 == rows.size())
        std::printf("%-36s %7ld %12.3e %12.3e %14.3e %14.3e\n", s.name, r.step, r.parting, r.rho_part, r.rec_full,
                    r.rec_comp);
    }
    ++idx;
  }
  csv.close();
  std::ofstream gp(prefix + ".gp");
  gp << "set terminal pngcairo size 1000,520\nset output '" << prefix << ".png'\nset datafile separator ','\n"
     << "set logscale y\nset format y '10^{%L}'\nset xlabel 'step'\n"
     << "set ylabel '||P_{full} - P_{comp}||_F / ||P_{full}||_F'\nset key outside right\n"
     << "set title 'compressed vs full-width product (d = 100, r = 3, L = 3)'\n"
     << "set key noenhanced\nplot ";
  for (int i = 0; i < 4; ++i)
    gp << "'" << prefix << ".csv' using ($1==" << i << " ? $2 : 1/0):3 every ::1 with lines lw 2 title '"
       << settings[i].name << "', ";
  gp << "'" << prefix << ".csv' using ($1==0 ? $2 : 1/0):4 every ::1 with lines dt 2 lc 'black' title 'rho^L part'\n";
  gp.close();
  if (std::system(("gnuplot " + prefix + ".gp 2>/dev/null").c_str()) != 0) std::printf("(gnuplot failed: no PNG)\n");
  std::remove((prefix + ".gp").c_str());
  std::printf("wrote %s.csv, %s.png\n", prefix.c_str(), prefix.c_str());
  return 0;
}
