// lowrank._lowrank: the nanobind module behind `import lowrank` (python/lowrank/__init__.py holds
// the documented API). Every computation goes through the code `lowrank solve`, `lowrank check`
// and `lowrank dynamics train` run (lowrank_backends, lowrank_data, lowrank_dynamics), with the
// GIL released; only the intake of arrays and the Python callbacks of a block iterator hold it.
//
// Arrays come in as nanobind ndarrays (buffer protocol or DLPack: NumPy, PyTorch CPU tensors, ...)
// without any dtype, order or device constraint, so nanobind never converts them implicitly;
// everything is checked here with messages naming the argument. X (N x n, the large one) is never
// copied as a whole: ArraySource reads it in place, block by block through its strides, exactly
// as NpyRowStream reads a file. W and the candidate A, B are copied into the driver's column-major
// double matrices, as the command line reads them whole from their files.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "lowrank/backends/judge.hpp"
#include "lowrank/backends/registry.hpp"
#include "lowrank/core/driver.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/ratios.hpp"
#include "lowrank/core/report.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/data/corpus.hpp"
#include "lowrank/dynamics/run.hpp"

namespace nb = nanobind;
using namespace nb::literals;

namespace lowrank::python {

using AnyArray = nb::ndarray<nb::ro>;

// ---------------------------------------------------------------------------------------------
// Intake of arrays

std::string dtype_str(const nb::dlpack::dtype& t) {
  const char* kind = "unknown";
  switch (static_cast<nb::dlpack::dtype_code>(t.code)) {
    case nb::dlpack::dtype_code::Int: kind = "int"; break;
    case nb::dlpack::dtype_code::UInt: kind = "uint"; break;
    case nb::dlpack::dtype_code::Float: kind = "float"; break;
    case nb::dlpack::dtype_code::Bfloat: kind = "bfloat"; break;
    case nb::dlpack::dtype_code::Complex: kind = "complex"; break;
    case nb::dlpack::dtype_code::Bool: return "bool";
    default: break;
  }
  return std::string(kind) + std::to_string(t.bits);
}

// float32 or float64, 2-D, in host memory; anything else is refused naming `what`.
Dtype require_float_matrix(const AnyArray& a, const std::string& what) {
  if (a.device_type() != nb::device::cpu::value)
    throw Error(what + ": the array lives on a device (DLPack device type " + std::to_string(a.device_type()) +
                "), not in host memory; lowrank.solve/check copy torch CUDA tensors with .cpu(), other "
                "device arrays must be copied to the host first");
  if (a.ndim() != 2)
    throw Error(what + ": expected a 2-D array, got " + std::to_string(a.ndim()) + "-D");
  const auto t = a.dtype();
  if (t.lanes == 1 && t.code == uint8_t(nb::dlpack::dtype_code::Float) && (t.bits == 32 || t.bits == 64))
    return t.bits == 32 ? Dtype::float32 : Dtype::float64;
  throw Error(what + ": dtype " + dtype_str(t) +
              " is not accepted; pass float32 or float64 (float16/bfloat16 are widened to float32 exactly by the "
              "Python layer; integers are refused, convert them yourself, e.g. x.astype(numpy.float64))");
}

// Element (i, j) of a 2-D float array through its strides (in elements).
struct StridedView {
  const char* base = nullptr;
  int64_t s0 = 0, s1 = 0;  // strides in elements
  Dtype dtype = Dtype::float64;
  Index rows = 0, cols = 0;
  explicit StridedView(const AnyArray& a, Dtype d) : dtype(d) {
    base = static_cast<const char*>(a.data());
    rows = Index(a.shape(0));
    cols = Index(a.shape(1));
    s0 = a.stride(0);
    s1 = a.stride(1);
  }
  double at(Index i, Index j) const {
    const int64_t k = int64_t(i) * s0 + int64_t(j) * s1;
    if (dtype == Dtype::float64) {
      double v;
      std::memcpy(&v, base + k * 8, 8);
      return v;
    }
    float v;
    std::memcpy(&v, base + k * 4, 4);
    return double(v);
  }
  // Rows [r0, r0 + b) into `block` (b x cols, column-major), reading along the smaller stride.
  void copy_rows(Index r0, Index b, MatrixXd& block) const {
    block.resize(b, cols);
    if (std::llabs(s1) <= std::llabs(s0)) {
      for (Index i = 0; i < b; ++i)
        for (Index j = 0; j < cols; ++j) block(i, j) = at(r0 + i, j);
    } else {
      for (Index j = 0; j < cols; ++j)
        for (Index i = 0; i < b; ++i) block(i, j) = at(r0 + i, j);
    }
  }
};

void require_finite_rows(const MatrixXd& block, Index row0, const std::string& what) {
  for (Index i = 0; i < block.rows(); ++i)
    for (Index j = 0; j < block.cols(); ++j)
      if (!std::isfinite(block(i, j)))
        throw Error(what + ": entry (" + std::to_string(row0 + i) + ", " + std::to_string(j) + ") is " +
                    (std::isnan(block(i, j)) ? "NaN" : "Inf") + " (every entry must be finite)");
}

// A whole matrix (W, a candidate factor) as the driver's column-major doubles.
MatrixXd to_matrix(const AnyArray& a, const std::string& what, Dtype* dtype_out = nullptr) {
  const Dtype d = require_float_matrix(a, what);
  if (dtype_out) *dtype_out = d;
  const StridedView v(a, d);
  MatrixXd m;
  v.copy_rows(0, v.rows, m);
  return m;
}

// Zero-copy evidence the tests check (lowrank._lowrank.intake_stats()): how many ArraySources were
// made over the caller's memory, and the address the last one reads (the caller's data pointer
// when nanobind made no copy on the way in; the Python layer counts its own conversions).
struct IntakeStats {
  long in_place = 0;
  uintptr_t last_pointer = 0;
};
IntakeStats g_stats;

// X given as an array: rows read in place through the strides, one block at a time.
class ArraySource final : public RowBlockSource {
 public:
  ArraySource(AnyArray a, std::string name) : array_(std::move(a)), name_(std::move(name)) {
    dtype_ = require_float_matrix(array_, "activations X");
    view_ = std::make_unique<StridedView>(array_, dtype_);
    ++g_stats.in_place;
    g_stats.last_pointer = reinterpret_cast<uintptr_t>(view_->base);
  }
  Index rows() const override { return view_->rows; }
  Index cols() const override { return view_->cols; }
  double data_unit_roundoff() const override { return dtype_ == Dtype::float32 ? 0x1p-24 : 0x1p-53; }
  void reset() override { next_row_ = 0; }
  bool next(Index max_rows, MatrixXd& block) override {
    if (next_row_ >= rows()) return false;
    if (max_rows < 1) throw Error("block size must be at least 1 row");
    const Index b = std::min(max_rows, rows() - next_row_);
    view_->copy_rows(next_row_, b, block);
    require_finite_rows(block, next_row_, name_ + " (activations X)");
    next_row_ += b;
    return true;
  }
  std::string name() const override { return name_; }
  uintptr_t data_pointer() const { return reinterpret_cast<uintptr_t>(view_->base); }
  std::string dtype() const { return dtype_name(dtype_); }

 private:
  AnyArray array_;  // keeps the caller's memory alive
  std::string name_;
  Dtype dtype_ = Dtype::float64;
  std::unique_ptr<StridedView> view_;
  Index next_row_ = 0;
};

// X given as blocks from Python: `factory()` returns a fresh iterator of 2-D blocks (already
// normalized by the Python layer) for every pass, or `one_shot` is an iterator that may be read
// once. The driver asks for exactly `max_rows` rows per block, whatever sizes the iterator
// yields, so the blocks of the computation (and hence the answer, bit for bit) are those of an
// array or a file with the same rows. Python is called with the GIL re-acquired.
class IterSource final : public RowBlockSource {
 public:
  IterSource(nb::object factory, nb::object one_shot, Index rows, Index cols, const std::string& dtype,
             std::string name)
      : factory_(std::move(factory)), one_shot_(std::move(one_shot)), rows_(rows), cols_(cols),
        dtype_(parse_dtype(dtype)), name_(std::move(name)) {
    if (rows < 0 || cols < 0) throw Error("activations X: rows and cols must be >= 0");
    if (factory_.is_none() == one_shot_.is_none())
      throw Error("activations X: give either a factory of iterators or one iterator");
  }
  ~IterSource() override = default;  // destroyed by Python, with the GIL
  Index rows() const override { return rows_; }
  Index cols() const override { return cols_; }
  double data_unit_roundoff() const override { return dtype_ == Dtype::float32 ? 0x1p-24 : 0x1p-53; }
  void reset() override {
    nb::gil_scoped_acquire gil;
    cur_array_ = AnyArray();
    cur_view_.reset();
    cur_off_ = 0;
    delivered_ = 0;
    if (!factory_.is_none()) {
      iter_ = factory_();
    } else {
      if (passes_ > 0)
        throw Error(name_ + ": a one-shot iterator (e.g. a generator object) can be read once, and this "
                    "computation needs another pass over X; pass a function that returns a new iterator "
                    "(lowrank.blocks(lambda: make_blocks())) or a re-iterable (a list, a DataLoader)");
      iter_ = one_shot_;
    }
    ++passes_;
  }
  bool next(Index max_rows, MatrixXd& block) override {
    if (max_rows < 1) throw Error("block size must be at least 1 row");
    nb::gil_scoped_acquire gil;
    if (!iter_.is_valid()) throw Error(name_ + ": read before reset()");
    if (delivered_ >= rows_) {
      // The declared rows are delivered: the iterator must be exhausted too.
      while ((cur_view_ && cur_off_ < cur_view_->rows) || pull()) {
        if (cur_view_->rows - cur_off_ > 0)
          throw Error(name_ + ": the iterator yielded more than the " + std::to_string(rows_) +
                      " rows it declared (it must yield the same blocks on every pass)");
      }
      return false;
    }
    const Index b = std::min(max_rows, rows_ - delivered_);
    block.resize(b, cols_);
    Index filled = 0;
    MatrixXd part;
    while (filled < b) {
      if (!cur_view_ || cur_off_ >= cur_view_->rows) {
        if (!pull())
          throw Error(name_ + ": the iterator ended after " + std::to_string(delivered_ + filled) + " rows, but " +
                      std::to_string(rows_) + " were declared (it must yield the same blocks on every pass)");
        continue;
      }
      const Index take = std::min(b - filled, cur_view_->rows - cur_off_);
      cur_view_->copy_rows(cur_off_, take, part);
      block.middleRows(filled, take) = part;
      cur_off_ += take;
      filled += take;
    }
    require_finite_rows(block, delivered_, name_ + " (activations X)");
    delivered_ += b;
    return true;
  }
  std::string name() const override { return name_; }
  int passes() const { return passes_; }

 private:
  // Next Python block into cur_*; false at the end. GIL held.
  bool pull() {
    PyObject* item = PyIter_Next(iter_.ptr());
    if (!item) {
      if (PyErr_Occurred()) throw nb::python_error();
      return false;
    }
    nb::object obj = nb::steal(item);
    AnyArray a;
    if (!nb::try_cast(obj, a))
      throw Error(name_ + ": block " + std::to_string(blocks_seen_) + " is not an array (" +
                  nb::inst_name(obj).c_str() + ")");
    const Dtype d = require_float_matrix(a, name_ + " block " + std::to_string(blocks_seen_));
    if (d != dtype_)
      throw Error(name_ + ": block " + std::to_string(blocks_seen_) + " is " + dtype_name(d) + ", the first was " +
                  dtype_name(dtype_) + " (every block must have the same dtype)");
    if (Index(a.shape(1)) != cols_)
      throw Error(name_ + ": block " + std::to_string(blocks_seen_) + " has " + std::to_string(a.shape(1)) +
                  " columns, expected " + std::to_string(cols_) + " (blocks are tokens x n)");
    ++blocks_seen_;
    cur_array_ = std::move(a);
    cur_view_ = std::make_unique<StridedView>(cur_array_, dtype_);
    cur_off_ = 0;
    return true;
  }

  nb::object factory_, one_shot_, iter_;
  Index rows_, cols_;
  Dtype dtype_;
  std::string name_;
  AnyArray cur_array_;
  std::unique_ptr<StridedView> cur_view_;
  Index cur_off_ = 0, delivered_ = 0;
  long blocks_seen_ = 0;
  int passes_ = 0;
};

// ---------------------------------------------------------------------------------------------
// Results to Python

// A new C-order NumPy array (float32 or float64) holding `m`.
nb::object to_numpy(const MatrixXd& m, Dtype d) {
  const size_t rows = size_t(m.rows()), cols = size_t(m.cols());
  if (d == Dtype::float32) {
    float* data = new float[std::max<size_t>(rows * cols, 1)];
    for (size_t i = 0; i < rows; ++i)
      for (size_t j = 0; j < cols; ++j) data[i * cols + j] = float(m(Index(i), Index(j)));
    nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<float*>(p); });
    return nb::cast(nb::ndarray<nb::numpy, float, nb::ndim<2>>(data, {rows, cols}, owner));
  }
  double* data = new double[std::max<size_t>(rows * cols, 1)];
  for (size_t i = 0; i < rows; ++i)
    for (size_t j = 0; j < cols; ++j) data[i * cols + j] = m(Index(i), Index(j));
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<double*>(p); });
  return nb::cast(nb::ndarray<nb::numpy, double, nb::ndim<2>>(data, {rows, cols}, owner));
}

nb::object vec_to_numpy(const VectorXd& v) {
  MatrixXd m = v;
  return to_numpy(m, Dtype::float64).attr("reshape")(-1);
}

std::string long_double_str(long double x) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.21Le", x);
  return buf;
}

nb::dict reference_dict(const ReferenceSolution& ref) {
  nb::dict d;
  d["m"] = ref.m;
  d["n"] = ref.n;
  d["N"] = ref.N;
  d["rank"] = ref.rank;
  d["mu"] = ref.mu;
  d["objective"] = double(ref.objective);
  d["objective_decimal"] = long_double_str(ref.objective);
  std::vector<double> sv;
  for (long double s : ref.singular_values) sv.push_back(double(s));
  d["singular_values"] = sv;
  d["gap"] = double(ref.gap());
  d["unique"] = ref.unique;
  d["norm_w_2"] = ref.norm_w_2;
  d["norm_w_fro"] = ref.norm_w_fro;
  d["norm_x_2"] = ref.norm_x_2;
  d["x_min"] = ref.x_min;
  d["kappa_structured"] = ref.kappa_structured;
  d["bits"] = ref.bits;
  d["W_star"] = to_numpy(ref.W_star, Dtype::float64);
  return d;
}

// A candidate factor pair as `lowrank check` would have read it: anything wrong with the arrays
// themselves (dimension, dtype, NaN/Inf) is a FAIL with the reason, not an exception.
CandidateFactors candidate(const AnyArray& A, const AnyArray& B) {
  CandidateFactors c;
  try {
    Dtype da, db;
    c.A = to_matrix(A, "candidate A", &da);
    c.B = to_matrix(B, "candidate B", &db);
    require_finite(c.A, "candidate A");
    require_finite(c.B, "candidate B");
    c.dtype = (da == Dtype::float32 || db == Dtype::float32) ? Dtype::float32 : Dtype::float64;
  } catch (const Error& e) {
    c.error = e.what();
    c.A.resize(0, 0);
    c.B.resize(0, 0);
  }
  return c;
}

backends::JudgeOptions judge_options(int ratio_version, int achievable_samples, double threshold) {
  backends::JudgeOptions o;
  o.ratio_version = ratio_version;
  o.achievable_samples = achievable_samples;
  o.threshold = threshold;
  backends::validate(o);
  return o;
}

// (check JSON, the table `lowrank check` prints, the reference as a dict)
nb::tuple check_result(const CandidateCheck& res, const ReferenceSolution& ref) {
  return nb::make_tuple(to_json(res).dump(), format_check(res), reference_dict(ref));
}

// ---------------------------------------------------------------------------------------------
// Entry points

nb::tuple solve(const AnyArray& W, RowBlockSource& X, Index rank, double mu, const std::string& method,
                const std::string& backend, const std::string& dtype, int bits, Index block, double rank_rtol,
                const std::string& svd, bool quiet) {
  const MatrixXd Wm = to_matrix(W, "weights W");
  require_finite(Wm, "weights W");
  SolveOptions opt;
  opt.method = parse_method(method);
  opt.rank = rank;
  opt.mu = mu;
  opt.block_rows = block;
  opt.rank_rtol = rank_rtol;
  backends::BackendRequest req;
  req.dtype = parse_dtype(dtype);
  req.bits = bits;
  req.quiet = quiet;
  req.svd = svd;
  backends::SolvedFactors f;
  {
    nb::gil_scoped_release release;
    validate_problem(Wm.rows(), Wm.cols(), X, opt);
    // A file is scanned whole for NaN/Inf before any work, as `lowrank solve` does.
    if (const auto* file = dynamic_cast<const NpyRowStream*>(&X)) file->require_all_finite();
    f = backends::solve_with_backend(backend, req, Wm, X, opt);
  }
  const std::string report = to_json(f.report).dump();
  if (!f.report.ok()) return nb::make_tuple(nb::none(), nb::none(), report);
  // Factors in the working precision, as `lowrank solve` writes them (the reference's in float64).
  const Dtype out = backend == "reference" ? Dtype::float64 : req.dtype;
  return nb::make_tuple(to_numpy(f.A, out), to_numpy(f.B, out), report);
}

nb::tuple check(const AnyArray& A, const AnyArray& B, const AnyArray& W, RowBlockSource& X, Index rank, double mu,
                int bits, int ratio_version, int achievable_samples, double threshold) {
  const backends::JudgeOptions jopt = judge_options(ratio_version, achievable_samples, threshold);
  if (bits < 64 || bits > 4096) throw Error("bits must be between 64 and 4096, got " + std::to_string(bits));
  const MatrixXd Wm = to_matrix(W, "weights W");
  require_finite(Wm, "weights W");
  const CandidateFactors cand = candidate(A, B);
  ReferenceSolution ref;
  CandidateCheck res;
  {
    nb::gil_scoped_release release;
    ref = data::compute_reference(Wm, X, rank, mu, bits);
    res = backends::judge(Wm, X, ref, cand, jopt);
  }
  return check_result(res, ref);
}

nb::tuple check_case(const AnyArray& A, const AnyArray& B, const std::string& dir, int ratio_version,
                     int achievable_samples, double threshold) {
  const backends::JudgeOptions jopt = judge_options(ratio_version, achievable_samples, threshold);
  const CandidateFactors cand = candidate(A, B);
  ReferenceSolution ref;
  CandidateCheck res;
  {
    nb::gil_scoped_release release;
    data::StoredCase sc = data::load_case(dir);
    const MatrixXd W = read_matrix(sc.w_path, "weights W");
    NpyRowStream X(sc.x_path, "activations X");
    res = backends::judge(W, X, sc.ref, cand, jopt);
    ref = std::move(sc.ref);
  }
  return check_result(res, ref);
}

nb::dict train(const nb::dict& kw) {
  dynamics::Config c;
  dynamics::BackendChoice be;
  for (auto [key, value] : kw) {
    const std::string k = nb::cast<std::string>(key);
    if (k == "depth") c.depth = nb::cast<Index>(value);
    else if (k == "width") c.width = nb::cast<Index>(value);
    else if (k == "rank") c.rank = nb::cast<Index>(value);
    else if (k == "observed") c.observed = nb::cast<double>(value);
    else if (k == "eps") c.eps = nb::cast<double>(value);
    else if (k == "eta") c.eta = nb::cast<double>(value);
    else if (k == "weight_decay") c.weight_decay = nb::cast<double>(value);
    else if (k == "gamma") c.gamma = nb::cast<double>(value);
    else if (k == "steps") c.steps = nb::cast<long>(value);
    else if (k == "seed") c.seed = nb::cast<std::uint64_t>(value);
    else if (k == "compressed") c.compressed = nb::cast<bool>(value);
    else if (k == "record_every") c.record_every = nb::cast<long>(value);
    else if (k == "stop_at") c.stop_at = nb::cast<double>(value);
    else if (k == "invariant") c.invariant = nb::cast<bool>(value);
    else if (k == "lora_samples") c.lora_samples = nb::cast<Index>(value);
    else if (k == "lora_whitened") c.lora_whitened = nb::cast<bool>(value);
    else if (k == "target_rank") c.target_rank = nb::cast<Index>(value);
    else if (k == "lora_inputs") {
      if (!value.is_none()) c.lora_inputs = to_matrix(nb::cast<AnyArray>(value), "lora_inputs").transpose();  // N x d -> d x N
    }
    else if (k == "backend") be.backend = nb::cast<std::string>(value);
    else if (k == "dtype") be.dtype = parse_dtype(nb::cast<std::string>(value));
    else if (k == "bits") be.bits = nb::cast<int>(value);
    else throw Error("dynamics.train: unknown parameter '" + k + "'");
  }
  dynamics::RunOutput r;
  {
    nb::gil_scoped_release release;
    dynamics::validate(c);
    r = dynamics::run(c, be);
  }
  nb::dict d;
  d["target"] = to_numpy(r.target, Dtype::float64);
  d["mask"] = r.mask.size() ? to_numpy(r.mask, Dtype::float64) : nb::none();
  d["lora_w0"] = r.lora_w0.size() ? to_numpy(r.lora_w0, Dtype::float64) : nb::none();
  d["lora_x"] = r.lora_x.size() ? to_numpy(r.lora_x, Dtype::float64) : nb::none();
  nb::list init;
  for (const auto& w : r.init) init.append(to_numpy(w, Dtype::float64));
  d["init"] = init;
  d["product"] = to_numpy(r.product, Dtype::float64);
  const Index k = Index(r.curve.size());
  MatrixXd curve(k, 6);
  for (Index i = 0; i < k; ++i) {
    const auto& p = r.curve[size_t(i)];
    curve.row(i) << double(p.step), p.loss, p.recovery_error, p.rho, p.max_invariant_dev, p.seconds;
  }
  d["curve"] = to_numpy(curve, Dtype::float64);
  nb::list spectra;
  for (const auto& s : r.spectra) {
    nb::list layers;
    for (const auto& v : s.layers) layers.append(vec_to_numpy(v));
    spectra.append(nb::make_tuple(s.step, s.rho, layers));
  }
  d["spectra"] = spectra;
  const auto& t = r.timings;
  nb::dict timings;
  timings["setup_seconds"] = t.setup_seconds;
  timings["compress_seconds"] = t.compress_seconds;
  timings["train_seconds"] = t.train_seconds;
  timings["record_seconds"] = t.record_seconds;
  timings["steps_done"] = t.steps_done;
  timings["reached_stop"] = t.reached_stop;
  d["timings"] = timings;
  d["loss_scale"] = r.loss_scale;
  d["precision"] = r.precision;
  return d;
}

}  // namespace lowrank::python

NB_MODULE(_lowrank, m) {
  using namespace lowrank;
  using namespace lowrank::python;
  m.doc() = "Bindings of the lowrank C++ library; use the documented API in `lowrank` (python/lowrank/__init__.py).";

  // lowrank::Error (refused input, bad options) -> ValueError with the C++ message; IoError ->
  // OSError; a breakdown inside a solve is a failed report (SolveFailed in Python); a diverging
  // training run -> lowrank.Diverged (a RuntimeError). Diverged derives from Error: test it first.
  static nb::object diverged = nb::steal(PyErr_NewExceptionWithDoc(
      "lowrank._lowrank.Diverged",
      "A training run diverged: loss NaN/Inf or above 1e6 times its start (`lowrank dynamics train` exits 3).",
      PyExc_RuntimeError, nullptr));
  m.attr("Diverged") = diverged;
  nb::register_exception_translator([](const std::exception_ptr& p, void*) {
    try {
      std::rethrow_exception(p);
    } catch (const dynamics::Diverged& e) {
      PyErr_SetString(diverged.ptr(), e.what());
    } catch (const IoError& e) {  // exit 4 on the command line: a read or write the system refused
      PyErr_SetString(PyExc_OSError, e.what());
    } catch (const Interrupted&) {  // Python's own SIGINT handler normally sees Ctrl-C first
      PyErr_SetNone(PyExc_KeyboardInterrupt);
    } catch (const Error& e) {
      PyErr_SetString(PyExc_ValueError, e.what());
    }
  });

  nb::class_<RowBlockSource>(m, "RowSource",
                             "Activations X (N x n, one row per token) as the solver streams them.")
      .def_prop_ro("rows", &RowBlockSource::rows, "N, tokens")
      .def_prop_ro("cols", &RowBlockSource::cols, "n, features")
      .def_prop_ro("name", &RowBlockSource::name)
      .def_prop_ro("data_unit_roundoff", &RowBlockSource::data_unit_roundoff,
                   "unit roundoff of the stored data: 2**-24 for float32, 2**-53 for float64");

  nb::class_<ArraySource, RowBlockSource>(m, "ArraySource", "X as a 2-D float32/float64 array, read in place.")
      .def(nb::init<AnyArray, std::string>(), "array"_a, "name"_a = "array")
      .def_prop_ro("data_pointer", &ArraySource::data_pointer, "address of the caller's memory this source reads")
      .def_prop_ro("dtype", &ArraySource::dtype);

  nb::class_<NpyRowStream, RowBlockSource>(m, "NpySource", "X as an .npy file, streamed block by block (the CLI's reader).")
      .def(nb::init<const std::string&, const std::string&>(), "path"_a, "what"_a = "activations X");

  nb::class_<IterSource, RowBlockSource>(m, "IterSource", "X as blocks yielded by Python.")
      .def(nb::init<nb::object, nb::object, Index, Index, const std::string&, std::string>(), "factory"_a.none(),
           "one_shot"_a.none(), "rows"_a, "cols"_a, "dtype"_a, "name"_a = "blocks")
      .def_prop_ro("passes", &IterSource::passes, "passes over X so far");

  m.def("solve", &python::solve, "W"_a, "X"_a, "rank"_a, "mu"_a, "method"_a, "backend"_a, "dtype"_a, "bits"_a, "block"_a,
        "rank_rtol"_a, "svd"_a, "quiet"_a, "-> (A, B, report JSON); A, B None when the method broke down");
  m.def("check", &python::check, "A"_a, "B"_a, "W"_a, "X"_a, "rank"_a, "mu"_a, "bits"_a, "ratio_version"_a,
        "achievable_samples"_a, "threshold"_a, "-> (check JSON, table, reference dict)");
  m.def("check_case", &python::check_case, "A"_a, "B"_a, "case_dir"_a, "ratio_version"_a, "achievable_samples"_a,
        "threshold"_a, "-> (check JSON, table, reference dict)");
  m.def("train", &python::train, "config"_a, "dynamics::run; keys as in lowrank.dynamics.train");
  m.def("read_matrix", [](const std::string& path, const std::string& what) {
    Dtype d;
    const MatrixXd M = read_matrix(path, what, &d);
    return to_numpy(M, d);
  }, "path"_a, "what"_a, "a 2-D .npy file as `lowrank` reads it (refusals with its messages), in its dtype");
  m.def("backends", &backends::backend_names, "backends of this build");
  m.def("default_corpus_dir", &data::default_corpus_dir, "the corpus the C++ library was built with (LOWRANK_CORPUS overrides)");
  m.def("method_names", &method_names);
  m.def("intake_stats", []() {
    nb::dict d;
    d["in_place"] = g_stats.in_place;
    d["last_pointer"] = g_stats.last_pointer;
    return d;
  }, "ArraySources made over the caller's memory, and the address the last one reads");
  m.attr("ratio_threshold") = kRatioThreshold;
  m.attr("ratio_version") = kRatioVersion;
  m.attr("suspect_factor") = kSuspectFactor;
}
