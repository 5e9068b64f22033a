// Throughput of the reference's QR and SVD against the raw MPFR multiply-add rate at the same
// precision, measured in the same run (issue 2, item 6).
//
// (a) MPFR limits on preallocated mpfr_t: acc = fma(x_i, y_i, acc) (dot), y_i = fma(a, x_i, y_i)
//     (axpy), and t = x_i * y_i; acc = acc + t (mul + add). One multiply-add = 2 flops.
// (b) QR of an n x n matrix: ReferenceBackend::stack_r (in-place Householder on mpfr_t) and
//     Eigen::HouseholderQR<mpreal> side by side; flops 2 m n^2 - 2 n^3 / 3 (MAGMA's geqrf, m = n).
//     SVD with U (thin), S, V: ReferenceBackend::svd (Golub-Kahan-Reinsch on the in-place MPFR
//     kernels, reference/src/svd.cpp) beside Eigen's BDCSVD<mpreal> (its predecessor); flops counted
//     with Golub & Van Loan's Golub-Reinsch count for U1, Sigma, V: 14 m n^2 + 8 n^3 (MAGMA's
//     flops.h has no gesvd formula), i.e. 22 n^3 at m = n.
// Every row reports flop/s and frac_fma = flop/s / (2 * fma rate of the dot kernel in this run).
#include <benchmark/benchmark.h>

#include <algorithm>
#include <ctime>
#include <random>
#include <vector>

#include <Eigen/QR>
#include <Eigen/SVD>

#include "lowrank/reference/backend.hpp"  // before <mpfr.h>: mpreal.h configures it

#include <mpfr.h>

namespace {

using lowrank::Index;
using lowrank::MatrixMP;

constexpr int kBits = 256;
constexpr int kLen = 512;  // vector length of the raw kernels (fits in L2 at 256 bits)

struct Vecs {
  std::vector<mpfr_t> x, y;
  mpfr_t acc, t, a;
  explicit Vecs(int len) : x(len), y(len) {
    gmp_randstate_t st;
    gmp_randinit_default(st);
    for (int i = 0; i < len; ++i) {
      mpfr_init2(x[i], kBits);
      mpfr_init2(y[i], kBits);
      mpfr_urandomb(x[i], st);
      mpfr_urandomb(y[i], st);
    }
    gmp_randclear(st);
    mpfr_inits2(kBits, acc, t, a, (mpfr_ptr)0);
    mpfr_set_d(a, 1e-3, MPFR_RNDN);
    mpfr_set_zero(acc, 1);
  }
  ~Vecs() {
    for (std::size_t i = 0; i < x.size(); ++i) {
      mpfr_clear(x[i]);
      mpfr_clear(y[i]);
    }
    mpfr_clears(acc, t, a, (mpfr_ptr)0);
  }
};

// Thread CPU time: the machine is shared (other jobs run beside this one), so wall time would
// measure the neighbours; every rate here, the limit included, is per CPU second of this thread.
double cpu_now() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// The fma rate of the dot kernel, measured before the benchmarks (median of 7), so every row
// can report its fraction of it.
double g_fma_per_s = 0;

double measure_fma_rate() {
  Vecs v(kLen);
  std::vector<double> rates;
  for (int rep = 0; rep < 7; ++rep) {
    const auto t0 = cpu_now();
    const int sweeps = 400;
    for (int s = 0; s < sweeps; ++s)
      for (int i = 0; i < kLen; ++i) mpfr_fma(v.acc, v.x[i], v.y[i], v.acc, MPFR_RNDN);
    const double sec = (cpu_now() - t0);
    rates.push_back(double(sweeps) * kLen / sec);
  }
  std::sort(rates.begin(), rates.end());
  return rates[rates.size() / 2];
}

void set_counters(benchmark::State& st, double flops_per_iter) {
  st.counters["flop/s"] = benchmark::Counter(flops_per_iter, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["fma_limit_flop/s"] = 2 * g_fma_per_s;
}

void finish_fraction(benchmark::State& st, double flops_per_iter, double seconds_total) {
  const double rate = flops_per_iter * double(st.iterations()) / seconds_total;
  st.counters["frac_fma"] = rate / (2 * g_fma_per_s);
}

void BM_mpfr_fma_dot(benchmark::State& st) {
  Vecs v(kLen);
  double sec = 0;
  for (auto _ : st) {
    const auto t0 = cpu_now();
    for (int i = 0; i < kLen; ++i) mpfr_fma(v.acc, v.x[i], v.y[i], v.acc, MPFR_RNDN);
    sec += (cpu_now() - t0);
  }
  set_counters(st, 2.0 * kLen);
  finish_fraction(st, 2.0 * kLen, sec);
}

void BM_mpfr_fma_axpy(benchmark::State& st) {
  Vecs v(kLen);
  double sec = 0;
  for (auto _ : st) {
    const auto t0 = cpu_now();
    for (int i = 0; i < kLen; ++i) mpfr_fma(v.y[i], v.a, v.x[i], v.y[i], MPFR_RNDN);
    sec += (cpu_now() - t0);
    mpfr_set_d(v.a, -mpfr_get_d(v.a, MPFR_RNDN), MPFR_RNDN);  // keep y bounded
  }
  set_counters(st, 2.0 * kLen);
  finish_fraction(st, 2.0 * kLen, sec);
}

void BM_mpfr_mul_add(benchmark::State& st) {
  Vecs v(kLen);
  double sec = 0;
  for (auto _ : st) {
    const auto t0 = cpu_now();
    for (int i = 0; i < kLen; ++i) {
      mpfr_mul(v.t, v.x[i], v.y[i], MPFR_RNDN);
      mpfr_add(v.acc, v.acc, v.t, MPFR_RNDN);
    }
    sec += (cpu_now() - t0);
  }
  set_counters(st, 2.0 * kLen);
  finish_fraction(st, 2.0 * kLen, sec);
}

MatrixMP random_matrix(Index n, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> d;
  MatrixMP m(n, n);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < n; ++i) m(i, j) = lowrank::mpreal(d(rng));
  return m;
}

double geqrf_flops(double m, double n) { return 2 * m * n * n - 2 * n * n * n / 3; }
double gesvd_flops(double m, double n) { return 14 * m * n * n + 8 * n * n * n; }

template <class F>
void timed(benchmark::State& st, double flops, F&& body) {
  double sec = 0;
  for (auto _ : st) {
    const auto t0 = cpu_now();
    body();
    sec += (cpu_now() - t0);
  }
  set_counters(st, flops);
  finish_fraction(st, flops, sec);
  st.counters["n"] = double(st.range(0));
}

void BM_qr_inplace_mpfr(benchmark::State& st) {
  const Index n = st.range(0);
  lowrank::set_reference_bits(kBits);
  const MatrixMP A = random_matrix(n, 1);
  lowrank::ReferenceBackend be;
  timed(st, geqrf_flops(n, n), [&] { benchmark::DoNotOptimize(be.stack_r(MatrixMP(0, n), A)); });
}

void BM_qr_eigen_mpreal(benchmark::State& st) {
  const Index n = st.range(0);
  lowrank::set_reference_bits(kBits);
  const MatrixMP A = random_matrix(n, 1);
  timed(st, geqrf_flops(n, n), [&] {
    Eigen::HouseholderQR<MatrixMP> qr(A);
    benchmark::DoNotOptimize(qr.matrixQR().data());
  });
}

void BM_svd_reference(benchmark::State& st) {
  const Index n = st.range(0);
  lowrank::set_reference_bits(kBits);
  const MatrixMP A = random_matrix(n, 2);
  lowrank::ReferenceBackend be;
  timed(st, gesvd_flops(n, n), [&] { benchmark::DoNotOptimize(be.svd(A).s.data()); });
}

// The previous reference SVD, side by side.
void BM_svd_eigen_bdc(benchmark::State& st) {
  const Index n = st.range(0);
  lowrank::set_reference_bits(kBits);
  const MatrixMP A = random_matrix(n, 2);
  timed(st, gesvd_flops(n, n), [&] {
    Eigen::BDCSVD<MatrixMP> svd(A, Eigen::ComputeThinU | Eigen::ComputeThinV);
    benchmark::DoNotOptimize(svd.singularValues().data());
  });
}

// For comparison: Eigen's generic GEMM over mpreal (the divide-and-conquer part of BDCSVD is
// GEMM) and the one-sided JacobiSVD.
void BM_gemm_eigen_mpreal(benchmark::State& st) {
  const Index n = st.range(0);
  lowrank::set_reference_bits(kBits);
  const MatrixMP A = random_matrix(n, 3), B = random_matrix(n, 4);
  MatrixMP C(n, n);
  timed(st, 2.0 * double(n) * double(n) * double(n), [&] {
    C.noalias() = A * B;
    benchmark::DoNotOptimize(C.data());
  });
}

void BM_svd_eigen_jacobi(benchmark::State& st) {
  const Index n = st.range(0);
  lowrank::set_reference_bits(kBits);
  const MatrixMP A = random_matrix(n, 2);
  timed(st, gesvd_flops(n, n), [&] {
    Eigen::JacobiSVD<MatrixMP> svd(A, Eigen::ComputeThinU | Eigen::ComputeThinV);
    benchmark::DoNotOptimize(svd.singularValues().data());
  });
}

}  // namespace

BENCHMARK(BM_mpfr_fma_dot)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_mpfr_fma_axpy)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_mpfr_mul_add)->Repetitions(5)->ReportAggregatesOnly(true);
BENCHMARK(BM_qr_inplace_mpfr)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_qr_eigen_mpreal)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_svd_reference)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_svd_eigen_bdc)->Arg(128)->Arg(256)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_gemm_eigen_mpreal)->Arg(128)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(3)->ReportAggregatesOnly(true);
BENCHMARK(BM_svd_eigen_jacobi)->Arg(128)->Unit(benchmark::kMillisecond)->Iterations(1)->Repetitions(1);

int main(int argc, char** argv) {
  g_fma_per_s = measure_fma_rate();
  benchmark::Initialize(&argc, argv);
  benchmark::AddCustomContext("mpfr_bits", std::to_string(kBits));
  benchmark::AddCustomContext("mpfr_version", MPFR_VERSION_STRING);
  benchmark::AddCustomContext("fma_limit_flop_per_s", std::to_string(2 * g_fma_per_s));
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
