// bench_cuda: MAGMA-style rows for the CUDA backend, speed and accuracy side by side.
//
//   bench_cuda peak                      measured GEMM rate (fp32, fp64) next to the table peak
//   bench_cuda qr   [--n ..] [--N ..]    streaming TSQR vs in-memory Xgeqrf vs syrk + potrf
//   bench_cuda svd  [--shapes MxN,..]    gesvd, gesvdj, gesvdp, gesvdr on the same matrix
//   bench_cuda e2e  [--n ..] [--N ..]    lowrank::solve: COALA vs svd-llm end to end
// e2e also: --svd gesvd|gesvdj|gesvdp|gesvdr (the driver of every SVD in the solves; default gesvd)
// common: --dtype float32,float64  --md FILE (append a Markdown section)  --json FILE (write rows)
//         --reps R (medians over R repetitions; default 3, 1 for e2e)
//
// Data. X is a periodic stream: a pool P of `--pool` rows (default 62500, >= n) repeated N / P times
// (N is rounded to a multiple of P), so N = 500k tokens need only the pool in pinned host memory and
// the exact X^T X = (N / P) P^T P is known. Pool entries are uniform in [-1, 1) times a column scale
// cond^(-j / (n - 1)) (--cond, default 1e3: LLM-like uneven channels), so kappa(X) ~ cond.
// Reference for every R: the float64 in-memory Xgeqrf of the pool, times sqrt(N / P) (Householder
// QR is backward stable; its own error, ~ u_64 kappa, is far below float32's and is stated per row).
//
// Flop counts (MAGMA testing/flops.h): geqrf m x n: 2 m n^2 - 2 n^3 / 3 (useful work for X^T, even
// where streaming factors [R; X_i^T] and does more); syrk: N n^2; potrf: n^3 / 3; SVD: the
// nominal Golub-Van Loan R-SVD count 6 m n^2 + 20 n^3 (m >= n) for every driver, so that rates
// compare times; gemm 2 n^3.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lowrank/core/results.hpp"

#include "lowrank/core/driver.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/fast/cuda_backend.hpp"

using namespace lowrank;
using json = nlohmann::json;

namespace {

struct Args {
  std::string section;
  std::vector<Index> n = {4096, 11008, 14336};
  std::vector<Index> N = {62500, 500000};
  std::vector<std::pair<Index, Index>> shapes = {{4096, 4096}, {4096, 11008}, {4096, 14336}};
  std::vector<std::string> dtypes = {"float32", "float64"};
  Index pool = 62500, m = 4096, block = 0;  // block 0: 4 n rows (capped by device memory)
  double cond = 1e3, rank_frac = 0.25;
  int reps = 3;
  std::string svd = "gesvd";  // e2e: the SVD driver of the solves
  std::string md, json_path;
};

std::vector<std::string> split(const std::string& s, char c) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, c))
    if (!item.empty()) out.push_back(item);
  return out;
}

Args parse(int argc, char** argv) {
  if (argc < 2) throw Error("usage: bench_cuda peak|qr|svd|e2e [options] (see the header of bench_cuda.cpp)");
  Args a;
  a.section = argv[1];
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw Error("option " + k + " needs a value");
    const std::string v = argv[++i];
    auto list = [&](std::vector<Index>& dst) {
      dst.clear();
      for (const auto& s : split(v, ',')) dst.push_back(std::stoll(s));
    };
    if (k == "--n") list(a.n);
    else if (k == "--N") list(a.N);
    else if (k == "--dtype") a.dtypes = split(v, ',');
    else if (k == "--pool") a.pool = std::stoll(v);
    else if (k == "--m") a.m = std::stoll(v);
    else if (k == "--block") a.block = std::stoll(v);
    else if (k == "--cond") a.cond = std::stod(v);
    else if (k == "--rank-frac") a.rank_frac = std::stod(v);
    else if (k == "--reps") a.reps = std::max(1, std::stoi(v));
    else if (k == "--svd") a.svd = v;
    else if (k == "--md") a.md = v;
    else if (k == "--json") a.json_path = v;
    else if (k == "--shapes") {
      a.shapes.clear();
      for (const auto& s : split(v, ',')) {
        const auto mn = split(s, 'x');
        if (mn.size() != 2) throw Error("--shapes wants MxN,MxN,..., got " + s);
        a.shapes.push_back({std::stoll(mn[0]), std::stoll(mn[1])});
      }
    } else throw Error("unknown option " + k);
  }
  return a;
}

double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

// Pool (P x n, column-major, ld P): uniform [-1, 1) from a hash of (i, j, seed), column j scaled by
// cond^(-j/(n-1)); filled by all host threads.
template <class T> void fill_pool(T* a, Index P, Index n, double cond, std::uint64_t seed) {
  const unsigned nt = std::max(1u, std::thread::hardware_concurrency());
  std::vector<std::thread> th;
  for (unsigned t = 0; t < nt; ++t)
    th.emplace_back([=] {
      for (Index j = t; j < n; j += nt) {
        const double scale = n > 1 ? std::pow(cond, -double(j) / double(n - 1)) : 1.0;
        for (Index i = 0; i < P; ++i) {
          std::uint64_t x = (std::uint64_t(j) * std::uint64_t(P) + std::uint64_t(i)) * 0x9E3779B97F4A7C15ull + seed;
          x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
          x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
          x ^= x >> 31;
          a[std::size_t(i) + std::size_t(j) * std::size_t(P)] = T((double(x >> 11) * 0x1p-52 - 1.0) * scale);
        }
      }
    });
  for (auto& x : th) x.join();
}

double rel_r_error(MatrixXd R, const MatrixXd& Rref) {
  normalize_row_signs(R);
  return (R - Rref).norm() / Rref.norm();
}

struct Peak {
  double gemm_fp32 = 0, gemm_fp64 = 0;
  DeviceInfo dev;
};

template <class T> double gemm_peak(const Peak& p) { return std::is_same<T, float>::value ? p.gemm_fp32 : p.gemm_fp64; }
template <class T> double table_peak(const Peak& p) {
  return std::is_same<T, float>::value ? p.dev.peak_fp32_gflops : p.dev.peak_fp64_tensor_gflops;
}

std::string fmt(const char* f, double v);

class Out {
 public:
  explicit Out(const Args& a) : a_(a) {}
  // The project's one row format (core/results.hpp: MAGMA's columns, each error over its bound,
  // ok/failed) on the console, the same cells as a Markdown table, and every row in the JSON.
  void header(const std::string& title) {
    md_ << "\n### " << title << "\n\n| group | name | shape | seconds | GFLOP/s | % peak | error / bound | verdict | note |\n"
        << "|---|---|---|---|---|---|---|---|---|\n";
    std::cout << "\n== " << title << "\n" << result_header() << "\n";
  }
  void row(const ResultRow& r, json j) {
    auto num = [](double v, const char* f) { return std::isnan(v) ? std::string("-") : fmt(f, v); };
    std::string ratios;
    for (const auto& [k, v] : r.ratios) ratios += (ratios.empty() ? "" : ", ") + k + " " + fmt("%.2g", v);
    md_ << "| " << r.group << " | " << r.name << " | " << r.shape << " | " << num(r.seconds, "%.4f") << " | "
        << num(r.gflops, "%.1f") << " | " << num(100 * r.peak_fraction, "%.1f%%") << " | " << ratios << " | "
        << (r.verdict.empty() ? "-" : r.verdict) << " | " << r.note << " |\n";
    std::cout << format_row(r) << std::endl;
    if (!r.verdict.empty()) summary_.add(r.verdict);
    j["verdict"] = r.verdict;
    rows_.push_back(std::move(j));
  }
  void note(const std::string& s) {
    md_ << "\n" << s << "\n";
    std::cout << s << "\n";
  }
  json& meta() { return meta_; }
  void flush() {
    if (summary_.run() > 0) {
      const std::string line = summary_.line("bench_cuda " + a_.section + ": accuracy of the rows against their bounds");
      md_ << "\n" << line << "\n";
      std::cout << line << "\n";
      meta_["summary"] = {{"passed", summary_.passed}, {"failed", summary_.failed}, {"run", summary_.run()}};
    }
    if (!a_.md.empty()) {
      std::string prev;
      {
        std::ifstream in(a_.md);
        std::stringstream ss;
        ss << in.rdbuf();
        prev = ss.str();
      }
      write_file_atomic(a_.md, prev + md_.str());
    }
    if (!a_.json_path.empty()) {
      json j = meta_;
      j["rows"] = rows_;
      write_file_atomic(a_.json_path, j.dump(1) + "\n");
    }
  }

 private:
  const Args& a_;
  std::ostringstream md_;
  json rows_ = json::array();
  json meta_ = json::object();
  Summary summary_;
};

// The verdict of a row's error ratios (each error over its bound): ok when every ratio is <= 1.
std::string verdict_of(const ResultRow& r) {
  for (const auto& [k, v] : r.ratios)
    if (!(v <= 1.0)) return "failed";
  return "ok";
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

Peak measure_peak(Out& out) {
  Peak p;
  CudaBackend<float> bf;
  CudaBackend<double> bd;
  p.dev = bd.device_info();
  p.gemm_fp32 = bf.measure_gemm_gflops(8192, 5);
  p.gemm_fp64 = bd.measure_gemm_gflops(8192, 5);
  out.meta()["device"] = {{"name", p.dev.name},
                          {"sm", std::to_string(p.dev.sm_major) + std::to_string(p.dev.sm_minor)},
                          {"multiprocessors", p.dev.multiprocessors},
                          {"clock_ghz", p.dev.clock_ghz},
                          {"memory_bytes", p.dev.total_bytes},
                          {"peak_fp32_gflops_table", p.dev.peak_fp32_gflops},
                          {"peak_fp64_gflops_table", p.dev.peak_fp64_gflops},
                          {"peak_fp64_tensor_gflops_table", p.dev.peak_fp64_tensor_gflops},
                          {"gemm_fp32_gflops_measured", p.gemm_fp32},
                          {"gemm_fp64_gflops_measured", p.gemm_fp64}};
  return p;
}

// ---------------- qr ----------------
template <class T> void bench_qr(const Args& a, const Peak& pk, Out& out) {
  const std::string dt = ScalarTraits<T>::name();
  for (Index n : a.n) {
    const Index P = std::max(a.pool, n);
    // Pool in pinned memory, in T, and its float64 reference R (in-memory Xgeqrf in double).
    auto pool = CudaBackend<T>::alloc_pinned(std::size_t(P) * n);
    fill_pool(pool.get(), P, n, a.cond, 7);
    MatrixXd Rpool;
    {
      CudaBackend<double> bd;
      auto pool64 = CudaBackend<double>::alloc_pinned(std::size_t(P) * n);
      for (std::size_t i = 0; i < std::size_t(P) * n; ++i) pool64.get()[i] = double(pool.get()[i]);
      Rpool = bd.qr_r_in_memory(HostRows<double>{pool64.get(), P, n, P, false, 0});
      normalize_row_signs(Rpool);
    }
    CudaBackend<T> be;
    for (Index N0 : a.N) {
      const Index reps_pool = std::max<Index>(1, (N0 + P / 2) / P);
      const Index N = reps_pool * P;
      const MatrixXd Rref = std::sqrt(double(reps_pool)) * Rpool;
      const HostRows<T> hx{pool.get(), N, n, P, false, P};
      const Index block = a.block > 0 ? a.block : 4 * n;
      const double useful = 2.0 * N * double(n) * n - 2.0 * double(n) * n * n / 3.0;
      const std::string shape = "N=" + std::to_string(N) + " n=" + std::to_string(n);
      // Bound on ||R - R_fp64||_F / ||R_fp64||_F: Householder QR is backward stable (||dX|| <= c n u
      // ||X||) and R moves by at most ~ sqrt(2) kappa(X) times that (Sun 1991); kappa(X) ~ cond by
      // construction. LAPACK's threshold 30 on the ratio err / (n u kappa): the row passes when
      // err <= 30 n u cond (the Gram route: 30 n u cond^2, its own bound, G squaring kappa).
      const double u_t = std::is_same<T, float>::value ? 0x1p-24 : 0x1p-53;
      const double r_bound = 30.0 * double(n) * u_t * a.cond, gram_bound = r_bound * a.cond;
      // streaming TSQR
      {
        std::vector<double> dev_t, wall_t, hidden;
        MatrixXd R;
        StreamStats st;
        for (int r = 0; r < a.reps; ++r) {
          const double t0 = now();
          R = be.accumulate_r(hx, block).template cast<double>();
          wall_t.push_back(now() - t0);
          st = be.last_stream();
          dev_t.push_back(st.seconds_wall);
          hidden.push_back(st.hidden_fraction);
        }
        const double t = median(dev_t), gf = useful / t * 1e-9;
        const double err = rel_r_error(R, Rref);
        ResultRow row("qr", dt + " tsqr-stream", shape, t, gf, gf / gemm_peak<T>(pk));
        row.ratios = {{"R-err/bound", err / r_bound}};
        row.verdict = verdict_of(row);
        row.note = "wall " + fmt("%.4f s", median(wall_t)) + ", " + fmt("%.1f%% of table peak", 100 * gf / table_peak<T>(pk)) +
                   ", H2D hidden " + fmt("%.1f%%", 100 * median(hidden)) + ", " + std::to_string(st.blocks) + " x " +
                   std::to_string(st.block_rows) + " rows, rel. R error " + fmt("%.2e", err);
        out.row(row,
                {{"section", "qr"}, {"dtype", dt}, {"method", "tsqr-stream"}, {"N", N}, {"n", n},
                 {"seconds_device", t}, {"seconds_wall", median(wall_t)}, {"gflops", gf},
                 {"frac_gemm_peak", gf / gemm_peak<T>(pk)}, {"frac_table_peak", gf / table_peak<T>(pk)},
                 {"rel_err_R_vs_fp64", err}, {"h2d_hidden_fraction", median(hidden)}, {"blocks", st.blocks},
                 {"block_rows", st.block_rows}, {"seconds_copy", st.seconds_copy}, {"seconds_compute", st.seconds_compute}});
      }
      // in-memory Xgeqrf
      try {
        std::vector<double> dev_t;
        MatrixXd R;
        for (int r = 0; r < a.reps; ++r) {
          double s = 0;
          R = be.qr_r_in_memory(hx, &s).template cast<double>();
          dev_t.push_back(s);
        }
        const double t = median(dev_t), gf = useful / t * 1e-9;
        const double err = rel_r_error(R, Rref);
        ResultRow row("qr", dt + " geqrf-in-memory", shape, t, gf, gf / gemm_peak<T>(pk));
        row.ratios = {{"R-err/bound", err / r_bound}};
        row.verdict = verdict_of(row);
        row.note = fmt("%.1f%% of table peak", 100 * gf / table_peak<T>(pk)) + ", rel. R error " + fmt("%.2e", err);
        out.row(row,
                {{"section", "qr"}, {"dtype", dt}, {"method", "geqrf-in-memory"}, {"N", N}, {"n", n},
                 {"seconds_device", t}, {"gflops", gf}, {"frac_gemm_peak", gf / gemm_peak<T>(pk)},
                 {"frac_table_peak", gf / table_peak<T>(pk)}, {"rel_err_R_vs_fp64", err}});
      } catch (const Error& e) {
        ResultRow row("qr", dt + " geqrf-in-memory", shape);
        row.note = std::string("not run: ") + e.what();  // no verdict: X^T did not fit the device
        out.row(row,
                {{"section", "qr"}, {"dtype", dt}, {"method", "geqrf-in-memory"}, {"N", N}, {"n", n},
                 {"not_run", e.what()}});
      }
      // syrk + potrf (the Gram route of svd-llm)
      {
        std::vector<double> dev_t, hidden;
        Mat<T> G, L;
        bool ok = true;
        double potrf = 0;
        for (int r = 0; r < a.reps; ++r) {
          G = be.accumulate_gram(hx, block);
          const double ts = be.last_stream().seconds_wall;
          hidden.push_back(be.last_stream().hidden_fraction);
          ok = be.cholesky_lower(G, L);
          potrf = be.last_potrf_seconds();
          dev_t.push_back(ts + potrf);
        }
        const double t = median(dev_t);
        const double gf = (double(N) * n * n + double(n) * n * n / 3.0) / t * 1e-9;
        const double err = ok ? rel_r_error(MatrixXd(L.template cast<double>().transpose()), Rref) : NAN;
        ResultRow row("qr", dt + " syrk+potrf", shape, t, gf, gf / gemm_peak<T>(pk));
        row.ratios = {{"R-err/bound", ok ? err / gram_bound : NAN}};
        row.verdict = ok ? verdict_of(row) : "failed";
        row.note = (ok ? "rel. R error " + fmt("%.2e", err) + " (bound 30 n u cond^2)" : std::string("Cholesky breakdown")) +
                   ", potrf " + fmt("%.4f s", potrf) + ", H2D hidden " + fmt("%.1f%%", 100 * median(hidden));
        out.row(row,
                {{"section", "qr"}, {"dtype", dt}, {"method", "syrk+potrf"}, {"N", N}, {"n", n},
                 {"seconds_device", t}, {"seconds_potrf", potrf}, {"gflops", gf},
                 {"frac_gemm_peak", gf / gemm_peak<T>(pk)}, {"frac_table_peak", gf / table_peak<T>(pk)},
                 {"rel_err_R_vs_fp64", ok ? json(err) : json("breakdown")}, {"h2d_hidden_fraction", median(hidden)}});
      }
    }
  }
}

// ---------------- svd ----------------
template <class T> void bench_svd(const Args& a, const Peak& pk, Out& out, Index m, Index n, const VectorXd& s_ref) {
  const std::string dt = ScalarTraits<T>::name();
  auto buf = CudaBackend<T>::alloc_pinned(std::size_t(m) * n);
  fill_pool(buf.get(), m, n, a.cond, 11);
  const Mat<T> M = Eigen::Map<Mat<T>>(buf.get(), m, n);
  CudaOptions verified;
  verified.verify = true;  // the row's residual and orthogonality (timed apart: the call alone is timed)
  CudaBackend<T> be(verified);
  const Index k = std::min(m, n), M_ = std::max(m, n);
  const double flops = 6.0 * M_ * double(k) * k + 20.0 * double(k) * k * k;
  const Index r = std::max<Index>(1, Index(a.rank_frac * double(k)));
  for (SvdDriver d : {SvdDriver::gesvd, SvdDriver::gesvdj, SvdDriver::gesvdp, SvdDriver::gesvdr}) {
    std::vector<double> ts;
    SvdCallInfo info;
    ThinSvd<T> s;
    try {
      for (int rep = 0; rep < a.reps; ++rep) {
        s = be.svd(M, d, r, &info);
        ts.push_back(info.seconds);
      }
    } catch (const Error& e) {
      ResultRow row("svd", dt + " " + svd_driver_name(d), "m=" + std::to_string(m) + " n=" + std::to_string(n));
      row.verdict = "failed";
      row.note = std::string("failed: ") + e.what();
      out.row(row,
              {{"section", "svd"}, {"dtype", dt}, {"driver", svd_driver_name(d)}, {"m", m}, {"n", n}, {"failed", e.what()}});
      continue;
    }
    const double t = median(ts), gf = flops / t * 1e-9;
    double sv_err = 0;
    const Index kk = std::min<Index>(s.s.size(), s_ref.size());
    for (Index i = 0; i < kk; ++i) sv_err = std::max(sv_err, std::abs(double(s.s(i)) - s_ref(i)) / s_ref(0));
    const std::string extra = info.driver + (info.k < k ? ", k = " + std::to_string(info.k) : "") +
                              (info.sweeps >= 0 ? ", sweeps " + std::to_string(info.sweeps) : "") +
                              (info.note.empty() ? "" : ", " + info.note);
    // LAPACK's SVD test ratios (TESTING/EIG dchkbd): residual, orthogonality and the singular values'
    // error, each over max(m, n) u, judged against 30. gesvdr's values are a randomized
    // approximation of the top k (not judged); its residual and orthogonality are.
    const double u_t = std::is_same<T, float>::value ? 0x1p-24 : 0x1p-53, unit = 30.0 * double(M_) * u_t;
    ResultRow row("svd", dt + " " + svd_driver_name(d), "m=" + std::to_string(m) + " n=" + std::to_string(n), t, gf,
                  gf / gemm_peak<T>(pk));
    row.ratios = {{"resid/bound", info.residual / unit}, {"orthU/bound", info.orth_u / unit}, {"orthV/bound", info.orth_v / unit}};
    if (d != SvdDriver::gesvdr) row.ratios.emplace_back("sv/bound", sv_err / unit);
    row.verdict = verdict_of(row);
    row.note = extra + ", max|s_i - s_i,fp64|/s_1 " + fmt("%.2e", sv_err);
    out.row(row,
            {{"section", "svd"}, {"dtype", dt}, {"driver", svd_driver_name(d)}, {"routine", info.driver}, {"m", m},
             {"n", n}, {"k", info.k}, {"seconds_device", t}, {"gflops_nominal", gf},
             {"frac_gemm_peak", gf / gemm_peak<T>(pk)}, {"residual", info.residual}, {"orth_u", info.orth_u},
             {"orth_v", info.orth_v}, {"max_sv_err_rel_s1_vs_fp64_gesvd", sv_err},
             {"driver_residual", info.driver_residual}, {"sweeps", info.sweeps}, {"note", info.note}});
  }
}

// ---------------- e2e ----------------
// Rows [i, i + b) of a periodic pool (column-major double, P x n): the source lowrank::solve reads.
class PeriodicSource final : public RowBlockSource {
 public:
  PeriodicSource(const double* pool, Index P, Index n, Index N) : pool_(pool), P_(P), n_(n), N_(N) {}
  Index rows() const override { return N_; }
  Index cols() const override { return n_; }
  double data_unit_roundoff() const override { return 0x1p-53; }
  void reset() override { next_ = 0; }
  bool next(Index max_rows, MatrixXd& block) override {
    if (next_ >= N_) return false;
    const Index b = std::min(max_rows, N_ - next_);
    block.resize(b, n_);
    Index off = 0;
    while (off < b) {
      const Index p0 = (next_ + off) % P_, len = std::min(b - off, P_ - p0);
      for (Index j = 0; j < n_; ++j)
        std::copy(pool_ + p0 + std::size_t(j) * P_, pool_ + p0 + len + std::size_t(j) * P_, block.data() + off + j * b);
      off += len;
    }
    next_ += b;
    return true;
  }
  std::string name() const override { return "periodic pool"; }

 private:
  const double* pool_;
  Index P_, n_, N_, next_ = 0;
};

template <class T>
void bench_e2e(const Args& a, Out& out, Index n, Index N, const std::vector<double>& pool, Index P, const MatrixXd& W,
               double* f_ref) {
  const std::string dt = ScalarTraits<T>::name();
  const Index r = std::max<Index>(1, Index(a.rank_frac * double(std::min(a.m, n))));
  double coala_wall = 0;
  for (Method meth : {Method::coala, Method::svd_llm}) {
    CudaOptions co;
    co.svd = parse_svd_driver(a.svd);
    co.svd_rank = r;
    CudaBackend<T> be(co);
    PeriodicSource src(pool.data(), P, n, N);
    SolveOptions opt;
    opt.method = meth;
    opt.rank = r;
    opt.block_rows = a.block > 0 ? a.block : 4 * n;
    const double t0 = now();
    const Solution<T> sol = solve(be, Mat<T>(W.cast<T>()), src, opt);
    const double wall = now() - t0;
    const SolveReport& rep = sol.report;
    if (meth == Method::coala) coala_wall = wall;
    if (meth == Method::coala && std::is_same<T, double>::value && rep.ok()) *f_ref = rep.objective;
    const double rel = (*f_ref > 0 && rep.ok()) ? (rep.objective - *f_ref) / *f_ref : NAN;
    const StreamStats& st = be.last_stream();
    std::string phases;
    for (const auto& [k, v] : rep.seconds) phases += k + " " + fmt("%.2f", v) + "; ";
    const double main_res = be.svd_log().empty() ? NAN : be.svd_log().back().residual;
    // The objective against fp64 COALA's, on the project's objective-ratio scale (ratio version 1,
    // core/ratios.hpp): (f - f_ref) / (30 u ||W|| ||X||_2 sqrt(max(m, n))), ||W||_F standing in
    // for ||W||_2 (a larger bound); a failed solve is a failed row.
    const double u_t = std::is_same<T, float>::value ? 0x1p-24 : 0x1p-53;
    const double x2 = rep.x_singular_values.empty() ? 0.0 : rep.x_singular_values.front();
    const double scale = 30.0 * u_t * W.norm() * x2 * std::sqrt(double(std::max(a.m, n)));
    ResultRow row("e2e", dt + " " + method_name(meth),
                  "m=" + std::to_string(a.m) + " n=" + std::to_string(n) + " N=" + std::to_string(N) + " r=" + std::to_string(r),
                  wall);
    if (rep.ok()) row.ratios = {{"obj/bound", scale > 0 ? (rep.objective - *f_ref) / scale : NAN}};
    row.verdict = rep.ok() ? verdict_of(row) : "failed";
    row.note = (meth == Method::svd_llm ? "COALA/svd-llm " + fmt("%.2f", coala_wall / wall) + ", " : std::string()) +
               (rep.ok() ? "f " + fmt("%.6e", rep.objective) + ", rel. to fp64 COALA " + fmt("%.2e", rel) : rep.failure) +
               ", H2D hidden " + fmt("%.1f%%", 100 * st.hidden_fraction) + ", last SVD resid " + fmt("%.2e", main_res) +
               ", phases: " + phases;
    out.row(row,
            {{"section", "e2e"}, {"dtype", dt}, {"method", method_name(meth)}, {"m", a.m}, {"n", n}, {"N", N},
             {"rank", r}, {"seconds_wall", wall}, {"coala_over_this", meth == Method::svd_llm ? coala_wall / wall : 1.0},
             {"status", rep.status}, {"failure", rep.failure}, {"objective", rep.objective},
             {"objective_rel_to_fp64_coala", rel}, {"h2d_hidden_fraction", st.hidden_fraction},
             {"stream_seconds_wall", st.seconds_wall}, {"stream_seconds_host_fill", st.seconds_host_fill},
             {"svd_residual", main_res}, {"seconds", rep.seconds}, {"notes", rep.notes}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Args a = parse(argc, argv);
    {
      const std::string why = CudaBackend<double>::unavailable_reason();
      if (!why.empty()) throw Error(why);
    }
    Out out(a);
    const Peak pk = measure_peak(out);
    out.meta()["section"] = a.section;
    char head[512];
    std::snprintf(head, sizeof head,
                  "Device: %s (sm_%d%d, %d SMs, %.2f GHz). Measured GEMM (n = 8192): fp32 %.0f GFLOP/s, fp64 %.0f "
                  "GFLOP/s; table peak fp32 %.0f, fp64 %.0f (tensor %.0f) GFLOP/s.",
                  pk.dev.name.c_str(), pk.dev.sm_major, pk.dev.sm_minor, pk.dev.multiprocessors, pk.dev.clock_ghz,
                  pk.gemm_fp32, pk.gemm_fp64, pk.dev.peak_fp32_gflops, pk.dev.peak_fp64_gflops,
                  pk.dev.peak_fp64_tensor_gflops);
    const bool want32 = std::count(a.dtypes.begin(), a.dtypes.end(), "float32") > 0;
    const bool want64 = std::count(a.dtypes.begin(), a.dtypes.end(), "float64") > 0;
    if (a.section == "peak") {
      out.note(head);
    } else if (a.section == "qr") {
      out.header("R of X^T: streaming TSQR vs in-memory Xgeqrf vs syrk + potrf (cond " + fmt("%.0e", a.cond) +
                 "; seconds on the device, % of the measured GEMM peak)");
      if (want32) bench_qr<float>(a, pk, out);
      if (want64) bench_qr<double>(a, pk, out);
      out.note("GFLOP/s counts the useful work 2 N n^2 - 2 n^3/3 (syrk+potrf: N n^2 + n^3/3). " + std::string(head));
    } else if (a.section == "svd") {
      out.header("SVD drivers (cond " + fmt("%.0e", a.cond) + ", gesvdr rank r = " + fmt("%.2f", a.rank_frac) +
                     " min(m, n), k = r + 1, p = 2k, 2 power iterations; GFLOP/s of 6mn^2+20n^3, % of the measured GEMM peak)");
      for (const auto& [m, n] : a.shapes) {
        // Reference singular values: float64 gesvd of the same matrix (entries of the float32 matrix
        // are the float64 ones rounded, a relative change <= u_32 absorbed in the float32 error).
        VectorXd s_ref;
        {
          CudaBackend<double> bd;
          auto buf = CudaBackend<double>::alloc_pinned(std::size_t(m) * n);
          fill_pool(buf.get(), m, n, a.cond, 11);
          s_ref = bd.svd(Mat<double>(Eigen::Map<Mat<double>>(buf.get(), m, n)), SvdDriver::gesvd, -1).s;
        }
        if (want32) bench_svd<float>(a, pk, out, m, n, s_ref);
        if (want64) bench_svd<double>(a, pk, out, m, n, s_ref);
      }
      out.note(head);
    } else if (a.section == "e2e") {
      out.header("End to end: lowrank::solve, COALA vs svd-llm (cond " + fmt("%.0e", a.cond) + ", SVD driver " + a.svd +
                 "; seconds wall)");
      for (Index n : a.n)
        for (Index N0 : a.N) {
          const Index P = std::max(a.pool, n);
          const Index N = std::max<Index>(1, (N0 + P / 2) / P) * P;
          std::vector<double> pool(std::size_t(P) * n);
          fill_pool(pool.data(), P, n, a.cond, 7);
          std::vector<double> wbuf(std::size_t(a.m) * n);
          fill_pool(wbuf.data(), a.m, n, 1.0, 99);
          const MatrixXd W = Eigen::Map<MatrixXd>(wbuf.data(), a.m, n);
          double f_ref = 0;
          if (want64) bench_e2e<double>(a, out, n, N, pool, P, W, &f_ref);
          if (want32) bench_e2e<float>(a, out, n, N, pool, P, W, &f_ref);
        }
      out.note("rel. to fp64 COALA: (f - f_COALA,fp64) / f_COALA,fp64, f = ||(W - AB) X||_F (>= 0 up to rounding: "
               "COALA's fp64 f is the Eckart-Young optimum to u_64 kappa). " +
               std::string(head));
    } else {
      throw Error("unknown section '" + a.section + "' (peak | qr | svd | e2e)");
    }
    out.flush();
  } catch (const std::exception& e) {
    std::cerr << "bench_cuda: " << e.what() << "\n";
    return 2;
  }
  return 0;
}
