// CPU backend benchmarks, side by side in one run (Google Benchmark, manual time, medians over
// --benchmark_repetitions). At the end a MAGMA-style table is printed with, per row: shape,
// median seconds, GFLOP/s (MAGMA testing/flops.h counts), fraction of this machine's dgemm peak
// measured in the same run, and accuracy columns.
//
//   qr/*    streaming TSQR (recursive-panel tpqrt on every block, block 4096; LAPACK geqrf + ?tpqrt beside
//           it)  vs  in-memory geqrf of X^T  vs  syrk + potrf
//           flops: geqrf 2Nn^2 - 2n^3/3 for both QRs; syrk Nn(n+1) + potrf n^3/3.
//           accuracy: ||R^T R - X X^T||_F / (||X||_2 ||X||_F) (X X^T by dsyrk in double; for
//           syrk+potrf, L L^T in place of R^T R).
//   values/* the rank step's values-only SVD of R: ?gesdd (jobz = N) vs the two-stage reduction.
//           flops 8n^3/3 for both; accuracy max_i |s_i - s_i(?gesdd)| / (n u ||R||_F) (<= 30).
//   e2e/*   lowrank::solve (the driver) with CpuBackend<double>: coala vs svd-llm.
//           accuracy: relative objective f / f_coala - 1 and ||W'_svdllm - W'_coala||_F / ||W||_F.
// X^T = Z diag(d) with Z Gaussian and d geometric from 1 to 1e-3 (kappa(X) ~ 1e3): well within
// svd-llm's reach in float64, so the timing comparison is of the happy path.
#include <benchmark/benchmark.h>
#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/random.hpp"
#include "lowrank/core/results.hpp"
#include "lowrank/fast/cpu_backend.hpp"

namespace {
using namespace lowrank;

struct Row {
  std::string group, name, shape;
  double flops = 0;
  std::vector<double> seconds;
  std::map<std::string, double> acc;
  // The bound the row's accuracy is judged against (NaN: shown, not judged): for the QR rows,
  // Householder QR's R is the exact factor of X + dX with ||dX||_F <= n u ||X||_F (Higham
  // Thm 19.4, the driver's convention), so ||R^T R - X X^T|| <= 2 n u ||X||_2 ||X||_F.
  double bound = NAN;
  bool single = false;  // a float32 row: its peak is sgemm's
};
std::map<std::string, Row> rows;  // key: group/name/shape
std::vector<std::string> order;
double dgemm_peak_gflops = 0, sgemm_peak_gflops = 0;

Row& row(const std::string& group, const std::string& name, const std::string& shape) {
  const std::string key = group + "/" + name + "/" + shape;
  if (!rows.count(key)) order.push_back(key);
  Row& r = rows[key];
  r.group = group; r.name = name; r.shape = shape;
  return r;
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// Test matrices from the project's one double-precision generator (core/random.hpp).
MatrixXd make_x(Index N, Index n, std::uint64_t seed) {  // Gaussian columns scaled 1 .. 1e-3
  SplitMixRng rng(seed);
  MatrixXd X = gaussian(N, n, rng);
  for (Index j = 0; j < n; ++j) X.col(j) *= std::pow(1e-3, double(j) / double(std::max<Index>(1, n - 1)));
  return X;
}
MatrixXd make_w(Index m, Index n, std::uint64_t seed) {
  SplitMixRng rng(seed);
  return gaussian(m, n, rng);
}

// Cached data per shape (generation is not timed).
struct Data {
  MatrixXd X, G;  // X: N x n, G = X^T X... as X X^T in MATH.md's orientation (n x n)
  double x2 = 0, xf = 0;
};
std::map<std::pair<Index, Index>, Data> cache;
const Data& data(Index N, Index n) {
  auto key = std::make_pair(N, n);
  if (!cache.count(key)) {
    cache.clear();  // hold one shape at a time
    Data d;
    d.X = make_x(N, n, 1000 + n);
    d.G = MatrixXd::Zero(n, n);
    cblas_dsyrk(CblasColMajor, CblasUpper, CblasTrans, int(n), int(N), 1.0, d.X.data(), int(N), 0.0, d.G.data(), int(n));
    d.G.triangularView<Eigen::StrictlyLower>() = d.G.transpose();
    d.xf = d.X.norm();
    d.x2 = std::sqrt(Eigen::SelfAdjointEigenSolver<MatrixXd>(d.G, Eigen::EigenvaluesOnly).eigenvalues().maxCoeff());
    cache[key] = std::move(d);
  }
  return cache[key];
}

std::string shape_of(Index N, Index n) { return "N=" + std::to_string(N) + " n=" + std::to_string(n); }

// The measured peak of ?gemm (n x n x n), float64 or float32: the GFLOP/s each row is set against.
template <class T> void BM_gemm(benchmark::State& st) {
  constexpr bool single = std::is_same_v<T, float>;
  const Index n = st.range(0);
  const Mat<T> A = make_w(n, n, 1).cast<T>(), B = make_w(n, n, 2).cast<T>();
  Mat<T> C(n, n);
  Row& r = row("peak", single ? "sgemm" : "dgemm", "n=" + std::to_string(n));
  r.single = single;
  r.flops = 2.0 * n * n * n;
  double& peak = single ? sgemm_peak_gflops : dgemm_peak_gflops;
  for (auto _ : st) {
    const double t0 = now();
    if constexpr (single)
      cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(n), int(n), int(n), 1.0f, A.data(), int(n), B.data(),
                  int(n), 0.0f, C.data(), int(n));
    else
      cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, int(n), int(n), int(n), 1.0, A.data(), int(n), B.data(),
                  int(n), 0.0, C.data(), int(n));
    const double t = now() - t0;
    st.SetIterationTime(t);
    r.seconds.push_back(t);
    peak = std::max(peak, r.flops / t * 1e-9);
  }
}

double gram_residual(const MatrixXd& R, const Data& d) {
  return (R.transpose() * R - d.G).norm() / (d.x2 * d.xf);
}

void BM_qr(benchmark::State& st) {
  const Index n = st.range(0), N = st.range(1) * n, variant = st.range(2);
  const Data& d = data(N, n);
  // 0: the streaming TSQR as shipped (recursive-panel kernel); 3: the same with LAPACK's ?tpqrt.
  const char* names[] = {"tsqr-stream(b=4096)", "geqrf-in-memory", "syrk+potrf", "tsqr-lapack-tpqrt(b=4096)"};
  const bool householder = variant != 2;
  Row& r = row("qr", names[variant], shape_of(N, n));
  r.flops = householder ? 2.0 * N * n * n - 2.0 * n * n * n / 3.0 : double(N) * n * (n + 1) + double(n) * n * n / 3.0;
  for (auto _ : st) {
    MatrixRowSource src(d.X);  // copy of X outside the timing
    CpuOptions o;
    o.in_memory_qr = variant == 1;
    if (variant == 3) o.tpqrt = TpqrtKernel::lapack;
    CpuBackend<double> be(o);
    MatrixXd R;
    const double t0 = now();
    if (householder) {
      R = be.accumulate_r(src, 4096);
    } else {
      const MatrixXd G = be.accumulate_gram(src, 4096);
      MatrixXd L;
      if (!be.cholesky_lower(G, L)) st.SkipWithError("potrf broke down");
      R = L.transpose();
    }
    const double t = now() - t0;
    st.SetIterationTime(t);
    r.seconds.push_back(t);
    r.acc["|RtR-XXt|/(|X|2|X|F)"] = gram_residual(R, d);
    if (householder) r.bound = 2.0 * double(n) * 0x1p-53;
    r.acc["bytes_held"] = double(be.stats().accumulate_bytes);
  }
}

// The numerical rank's values-only SVD of R (the driver's x_rank_step), the two kernels side by
// side: ?gesdd (jobz = N) and the two-stage reduction. R = the triangular factor of a 2n x n X of
// the same kind (untimed). accuracy: max_i |s_i - s_i(?gesdd)| / (n u ||R||_F), judged against
// LAPACK's threshold 30 (both are backward stable: each value moves by <= c n u ||R||_F).
template <class T> void BM_values(benchmark::State& st) {
  const Index n = st.range(0);
  const bool two_stage = st.range(1) == 1, single = std::is_same_v<T, float>;
  static std::map<Index, std::pair<Mat<T>, Vec<T>>> cache_r;  // R and its ?gesdd values
  if (!cache_r.count(n)) {
    cache_r.clear();
    MatrixXd X = make_x(2 * n, n, 500 + n);
    std::vector<double> tau(static_cast<std::size_t>(n));
    LAPACKE_dgeqrf(LAPACK_COL_MAJOR, int(2 * n), int(n), X.data(), int(2 * n), tau.data());
    const Mat<T> R = MatrixXd(X.topRows(n).triangularView<Eigen::Upper>()).cast<T>();
    CpuOptions o;
    o.values_kernel = SvdValuesKernel::gesdd;
    CpuBackend<T> be(o);
    cache_r[n] = {R, be.singular_values(R)};
  }
  const auto& [R, ref] = cache_r[n];
  Row& r = row("values", std::string(two_stage ? "svd-values-2stage" : "svd-values-gesdd") + (single ? "-f32" : ""),
               "n=" + std::to_string(n));
  r.single = single;
  r.flops = 8.0 * double(n) * n * n / 3.0;  // 4 p q^2 - 4 q^3 / 3 at p = q = n, the same count for both
  r.bound = 30;
  const double scale = double(n) * double(std::numeric_limits<T>::epsilon()) / 2 * double(R.norm());
  for (auto _ : st) {
    CpuOptions o;
    o.values_kernel = two_stage ? SvdValuesKernel::two_stage : SvdValuesKernel::gesdd;
    CpuBackend<T> be(o);
    const double t0 = now();
    const Vec<T> s = be.singular_values(R);
    const double t = now() - t0;
    st.SetIterationTime(t);
    r.seconds.push_back(t);
    r.acc["|ds|/(n u |R|F)"] = double((s - ref).cwiseAbs().maxCoeff()) / scale;
  }
}

template <class T> void BM_e2e(benchmark::State& st) {
  const Index n = st.range(0), N = st.range(1) * n, m = st.range(2) * n / 10, variant = st.range(3);
  const Data& d = data(N, n);
  const MatrixXd W = make_w(m, n, 77 + m);
  const bool single = std::is_same_v<T, float>;
  const std::string shape = "m=" + std::to_string(m) + " n=" + std::to_string(n) + " N=" + std::to_string(N) + " r=" + std::to_string(n / 4);
  // float32: the solve reads X as float (BlockReader<float>) and W rounded to float, as
  // `lowrank solve --dtype float32` does; compared with the float32 COALA of the same shape.
  Row& r = row("e2e", std::string(variant == 0 ? "coala" : "svd-llm") + (single ? "-f32" : ""), shape);
  r.single = single;
  for (auto _ : st) {
    MatrixRowSource src(d.X, single ? 0x1p-24 : 0x1p-53, "X");
    CpuBackend<T> be;
    SolveOptions opt;
    opt.method = variant == 0 ? Method::coala : Method::svd_llm;
    opt.rank = n / 4;
    const double t0 = now();
    const Solution<T> s = solve(be, Mat<T>(W.cast<T>()), src, opt);
    const double t = now() - t0;
    st.SetIterationTime(t);
    r.seconds.push_back(t);
    double fl = 0;
    for (const auto& [k, ks] : be.stats().kernels) fl += ks.flops;
    r.flops = fl;  // nominal LAPACK/BLAS flops of the whole solve, the driver's gemm products included
    static std::map<std::string, std::pair<double, MatrixXd>> coala_ref;
    const MatrixXd Wp = (s.A * s.B).template cast<double>();
    if (variant == 0) coala_ref[shape] = {s.objective, Wp};
    if (coala_ref.count(shape)) {
      r.acc["f/f_coala-1"] = s.objective / coala_ref[shape].first - 1;
      r.acc["|W'-W'coala|/|W|"] = (Wp - coala_ref[shape].second).norm() / W.norm();
    }
    for (const auto& [phase, sec] : s.report.seconds) r.acc["t_" + phase] = sec;
  }
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t k = v.size();
  return k == 0 ? 0 : (k % 2 ? v[k / 2] : 0.5 * (v[k / 2 - 1] + v[k / 2]));
}

void print_table() {
  std::printf("\n# MAGMA-style summary (medians over repetitions); dgemm peak = %.1f, sgemm peak = %.1f GFLOP/s (best of "
              "run; float32 rows use sgemm's), OpenBLAS threads = %d\n",
              dgemm_peak_gflops, sgemm_peak_gflops, cpu_threads());
  std::printf("%s\n", result_header().c_str());
  Summary sum;
  for (const auto& key : order) {
    const Row& r = rows[key];
    const double t = median(r.seconds), gf = t > 0 ? r.flops / t * 1e-9 : 0;
    const double peak = r.single ? sgemm_peak_gflops : dgemm_peak_gflops;
    ResultRow out{r.group, r.name, r.shape, t, gf, peak > 0 ? gf / peak : NAN};
    char buf[96];
    for (const auto& [k, v] : r.acc) {
      std::snprintf(buf, sizeof buf, "%s=%.3g ", k.c_str(), v);
      out.note += buf;
    }
    out.verdict = "-";
    if (!std::isnan(r.bound) && r.acc.count("|RtR-XXt|/(|X|2|X|F)")) {
      const double ratio = r.acc.at("|RtR-XXt|/(|X|2|X|F)") / r.bound;
      out.ratios.emplace_back("RtR/bound", ratio);
      out.verdict = ratio <= 1 ? "ok" : "failed";
      sum.add(out.verdict);
    }
    if (!std::isnan(r.bound) && r.acc.count("|ds|/(n u |R|F)")) {
      out.verdict = r.acc.at("|ds|/(n u |R|F)") <= r.bound ? "ok" : "failed";
      sum.add(out.verdict);
    }
    std::printf("%s\n", format_row(out).c_str());
  }
  std::printf("%s\n", sum.line("accuracy of the QR rows against 2 n u ||X||_2 ||X||_F and of the values rows "
                               "against 30 n u ||R||_F").c_str());
}

}  // namespace

int main(int argc, char** argv) {
  // LOWRANK_BENCH_QUICK=1: small shapes (a smoke run); default: the shapes of bench/results/cpu.md.
  const bool quick = std::getenv("LOWRANK_BENCH_QUICK") != nullptr;
  benchmark::RegisterBenchmark("dgemm", BM_gemm<double>)->Arg(quick ? 512 : 2048)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
  benchmark::RegisterBenchmark("sgemm", BM_gemm<float>)->Arg(quick ? 512 : 2048)->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
  std::vector<std::pair<Index, Index>> qr_shapes = quick ? std::vector<std::pair<Index, Index>>{{256, 8}, {256, 64}}
                                                         : std::vector<std::pair<Index, Index>>{{1024, 8}, {1024, 64}, {2048, 8}};
  for (auto [n, f] : qr_shapes)
    for (int v : {0, 3, 1, 2})  // the two TSQR kernels side by side
      benchmark::RegisterBenchmark("qr", BM_qr)->Args({n, f, v})->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
  // values: the rank step's values-only SVD of R, ?gesdd and two-stage side by side.
  std::vector<Index> values_n = quick ? std::vector<Index>{256} : std::vector<Index>{1024, 2048};
  if (!quick && std::getenv("LOWRANK_BENCH_LARGE")) values_n.push_back(4096);
  for (Index n : values_n)
    for (int v : {0, 1}) {
      benchmark::RegisterBenchmark("values", BM_values<double>)->Args({n, v})->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
      benchmark::RegisterBenchmark("values-f32", BM_values<float>)->Args({n, v})->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
    }
  // e2e: n, N/n, m*10/n (10: m = n, 27: m = 2.7 n), variant
  std::vector<std::array<Index, 3>> e2e = quick ? std::vector<std::array<Index, 3>>{{256, 8, 10}}
                                                : std::vector<std::array<Index, 3>>{{1024, 8, 10}, {1024, 8, 27}, {1024, 64, 10},
                                                                                    {2048, 8, 10}, {2048, 8, 27}};
  // LOWRANK_BENCH_LARGE=1 adds n = 4096 (N = 8n, m = n; X is 1 GiB; about 3 minutes a repetition).
  if (!quick && std::getenv("LOWRANK_BENCH_LARGE")) e2e.push_back({4096, 8, 10});
  for (auto s : e2e) {
    for (int v = 0; v < 2; ++v)
      benchmark::RegisterBenchmark("e2e", BM_e2e<double>)->Args({s[0], s[1], s[2], v})->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
    if (s[1] == 8)  // float32 where the SVD dominates (issue 12: float64 and float32)
      for (int v = 0; v < 2; ++v)
        benchmark::RegisterBenchmark("e2e-f32", BM_e2e<float>)->Args({s[0], s[1], s[2], v})->UseManualTime()->Iterations(1)->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  print_table();
  return 0;
}
