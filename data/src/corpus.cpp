#include "lowrank/data/corpus.hpp"

#include "lowrank/core/sensitivity.hpp"

#include <Eigen/SVD>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>

#include "lowrank/core/driver.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/reference/backend.hpp"
#include "lowrank/reference/solve.hpp"

namespace lowrank::data {
namespace fs = std::filesystem;
namespace {

const char* kind_name(CaseKind k) {
  switch (k) {
    case CaseKind::generated: return "generated";
    case CaseKind::tie: return "tie";
    case CaseKind::invalid_nan_w: return "invalid_nan_w";
    case CaseKind::invalid_inf_x: return "invalid_inf_x";
    case CaseKind::invalid_shape: return "invalid_shape";
    case CaseKind::invalid_truncated: return "invalid_truncated";
    case CaseKind::invalid_rank: return "invalid_rank";
    case CaseKind::invalid_mu: return "invalid_mu";
  }
  return "?";
}

nlohmann::json spec_json(const MatrixSpec& s) {
  return {{"rows", s.rows}, {"cols", s.cols}, {"mode", mode_name(s.mode)}, {"cond", s.cond},
          {"rank", s.rank}, {"exact_rank", s.exact_rank}, {"scale", s.scale},
          {"outlier_cols", s.outlier_cols}, {"outlier_factor", s.outlier_factor}, {"dtype", dtype_name(s.dtype)}};
}

std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw Error(path + ": cannot open");
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

// Overwrites entry (i, j) of a C-order .npy file written by write_npy (used to make the invalid
// cases: write_npy itself refuses NaN/Inf).
void patch_npy_entry(const std::string& path, Index i, Index j, double value) {
  const NpyHeader h = read_npy_header(path);
  std::string bytes = read_text(path);
  const std::size_t off = std::size_t(h.data_offset) + std::size_t(i * h.shape[1] + j) * h.item_size();
  if (h.dtype == Dtype::float32) {
    const float f = float(value);
    bytes.replace(off, 4, reinterpret_cast<const char*>(&f), 4);
  } else {
    bytes.replace(off, 8, reinterpret_cast<const char*>(&value), 8);
  }
  write_file_atomic(path, bytes);
}

// A random signed permutation matrix k x k (exactly orthogonal).
MatrixXd signed_permutation(Index k, Rng& rng) {
  std::vector<Index> p(k);
  for (Index i = 0; i < k; ++i) p[i] = i;
  for (Index i = k - 1; i > 0; --i) std::swap(p[i], p[Index(rng.next_u64() % std::uint64_t(i + 1))]);
  MatrixXd P = MatrixXd::Zero(k, k);
  for (Index i = 0; i < k; ++i) P(i, p[i]) = (rng.next_u64() >> 63) ? -1.0 : 1.0;
  return P;
}

}  // namespace

CaseData generate_case(const CaseDef& c, int bits) {
  Rng rng(c.seed);
  CaseData d;
  if (c.kind == CaseKind::tie) {
    // W = H diag(d) H^T: H = Hadamard/4 (entries +-1/4), d integers, so every entry is a sum of
    // multiples of 1/16 below 2^5: exact in double. X = [P1; P2] (signed permutations): X^T X = 2 I.
    const Index k = c.w.rows;
    if (c.w.cols != k || c.x.cols != k || c.x.rows != 2 * k) throw Error("tie case needs W k x k and X 2k x k");
    const MatrixXd H = hadamard_orthogonal(k);
    VectorXd s(k);
    const double vals[] = {8, 7, 6, 5, 5, 4, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1};
    for (Index i = 0; i < k; ++i) s(i) = i < 16 ? vals[i] : 1.0;
    d.W = H * s.asDiagonal() * H.transpose();
    d.X.resize(2 * k, k);
    d.X << signed_permutation(k, rng), signed_permutation(k, rng);
    return d;
  }
  MatrixSpec xs = c.x;
  if (c.kind == CaseKind::invalid_shape) xs.cols = c.x.cols + 1;
  d.W = generate_matrix(c.w, rng, bits);
  d.X = generate_matrix(xs, rng, bits);
  return d;
}

ReferenceSolution compute_reference(const MatrixXd& W, RowBlockSource& X, Index rank, double mu, int bits,
                                    nlohmann::json* json, MatrixXd* A_out, MatrixXd* B_out) {
  SolveOptions opt;
  opt.method = Method::coala;
  opt.rank = rank;
  opt.mu = mu;
  const ReferenceRun run = reference_solve(W, X, opt, bits);
  const Solution<mpreal>& s = run.sol;
  if (!s.report.ok()) throw Error("reference solve failed: " + s.report.failure);
  const SolveReport& rep = s.report;
  ReferenceSolution ref;
  ref.m = W.rows();
  ref.n = W.cols();
  ref.N = X.rows();
  ref.rank = rank;
  ref.mu = mu;
  ref.bits = bits;
  ref.objective = parse_long_double(rep.eckart_young_tail_decimal, "reference objective");
  for (const auto& sv : rep.singular_values_decimal) ref.singular_values.push_back(parse_long_double(sv, "reference singular value"));
  ref.unique = rep.unique;
  ref.norm_w_2 = W.size() ? Eigen::JacobiSVD<MatrixXd>(W).singularValues()(0) : 0.0;
  ref.norm_w_fro = W.norm();
  ref.norm_x_2 = rep.x_singular_values.empty() ? 0.0 : rep.x_singular_values.front();
  ref.x_min = rep.x_singular_values.empty() ? 0.0 : rep.x_singular_values.back();
  ref.W_star = to_double(run.Wp);
  if (A_out) *A_out = to_double(s.A);
  if (B_out) *B_out = to_double(s.B);
  // Ratio version 2's structured forward condition number (core/sensitivity.hpp), where the
  // forward error can be judged at all (unique cut, r > 0).
  int kappa_iterations = 0;
  if (rank > 0 && rep.unique) {
    const ForwardSensitivity fs(W, X, mu, rank);
    ref.kappa_structured = fs.kappa();
    kappa_iterations = fs.iterations();
  }
  if (json) {
    nlohmann::json& j = *json;
    j = nlohmann::json::object();
    j["method"] = rep.method;
    j["backend"] = rep.backend;
    j["precision"] = rep.precision;
    j["bits"] = bits;
    j["objective"] = rep.eckart_young_tail_decimal;
    j["objective_meaning"] = "||(W - W'_*) X_mu||_F = sqrt(||(W - W'_*)X||_F^2 + mu ||W - W'_*||_F^2), 40 digits";
    j["singular_values"] = rep.singular_values_decimal;
    j["singular_values_meaning"] = "s_i(W R_mu^T) = s_i(W X_mu), 40 digits";
    j["gap"] = rep.gap;
    j["unique"] = rep.unique;
    j["x_singular_values"] = rep.x_singular_values;
    j["x_rank"] = rep.x_rank;
    j["norm_w_2"] = ref.norm_w_2;
    j["norm_w_fro"] = ref.norm_w_fro;
    if (ref.kappa_structured > 0 && std::isfinite(ref.kappa_structured)) {
      j["kappa_structured"] = ref.kappa_structured;
      j["kappa_structured_meaning"] =
          "||dW'_*||_F / (u ||W'_*||_F) to first order, maximized over dW = ||W||_F E_W, dX = diag(||x_i||) E, "
          "dM = s_1(W X_mu) E_M with ||E_W||_F^2 + ||E||_F^2 + ||E_M||_F^2 <= 1 (core/README.md, ratio version 2); "
          "power iteration, " +
          std::to_string(kappa_iterations) + " steps, long double";
    }
    j["files"] = {{"W_star", "W_star.npy"}, {"A", "A_ref.npy"}, {"B", "B_ref.npy"}};
  }
  return ref;
}

std::string case_must(const CaseDef& c) {
  if (!c.valid())
    return "refuse: exit nonzero and write no A.npy/B.npy (" + c.hard + "); `lowrank check` refuses it too";
  bool non_unique = false;
  for (const auto& t : c.tags) non_unique = non_unique || t == "non-unique";
  std::string shapes = "A " + std::to_string(c.w.rows) + " x " + std::to_string(c.rank) + ", B " +
                       std::to_string(c.rank) + " x " + std::to_string(c.w.cols) + ", finite; ";
  if (non_unique)
    return shapes + "objective ratio <= 30 (the minimizer is not unique: only the objective is judged)";
  return shapes + "objective ratio <= 30, and forward ratio <= 30 wherever it is judged (unique minimizer, "
                  "30 d u kappa < 1, X_mu of full row rank at the candidate's precision)";
}

nlohmann::json case_json(const CaseDef& c) {
  nlohmann::json j;
  j["name"] = c.name;
  j["tags"] = c.tags;
  j["valid"] = c.valid();
  j["kind"] = kind_name(c.kind);
  j["large"] = c.large;
  j["m"] = c.w.rows;
  j["n"] = c.w.cols;
  j["N"] = c.x.rows;
  j["n_x"] = c.kind == CaseKind::invalid_shape ? c.x.cols + 1 : c.x.cols;
  j["rank"] = c.rank;
  j["mu"] = c.mu;
  j["dtype"] = dtype_name(c.dtype());
  j["seed"] = c.seed;
  j["hard"] = c.hard;
  j["must"] = case_must(c);
  j["generator"] = {{"w", spec_json(c.w)}, {"x", spec_json(c.x)}, {"bits", 256}};
  j["files"] = {{"W", "W.npy"}, {"X", "X.npy"}};
  return j;
}

nlohmann::json write_case(const CaseDef& c, const std::string& dir, int bits) {
  fs::create_directories(dir);
  const CaseData d = generate_case(c, bits);
  const std::string wp = dir + "/W.npy", xp = dir + "/X.npy";
  write_npy(wp, d.W, c.w.dtype);
  write_npy(xp, d.X, c.x.dtype);
  switch (c.kind) {
    case CaseKind::invalid_nan_w: patch_npy_entry(wp, 3, 5, std::numeric_limits<double>::quiet_NaN()); break;
    case CaseKind::invalid_inf_x: patch_npy_entry(xp, 7, 2, std::numeric_limits<double>::infinity()); break;
    case CaseKind::invalid_truncated: {
      const std::string bytes = read_text(xp);
      write_file_atomic(xp, bytes.substr(0, bytes.size() - 100));
      break;
    }
    default: break;
  }
  nlohmann::json j = case_json(c);
  if (c.valid()) {
    MatrixRowSource X(d.X, c.x.dtype == Dtype::float32 ? 0x1p-24 : 0x1p-53, xp);
    nlohmann::json rj;
    MatrixXd A, B;
    const ReferenceSolution ref = compute_reference(d.W, X, c.rank, c.mu, bits, &rj, &A, &B);
    write_npy(dir + "/W_star.npy", ref.W_star);
    write_npy(dir + "/A_ref.npy", A);
    write_npy(dir + "/B_ref.npy", B);
    write_file_atomic(dir + "/reference.json", rj.dump(1) + "\n");
    j["reference"] = "reference.json";
  } else {
    fs::remove(dir + "/reference.json");
  }
  write_file_atomic(dir + "/case.json", j.dump(1) + "\n");
  return j;
}

namespace {
// A file named by case.json or reference.json: a plain name inside the case folder (found by the
// fuzzer: "../W.npy" or an absolute path would read outside it).
std::string case_file_name(const std::string& name, const std::string& where) {
  if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos ||
      name.find('\0') != std::string::npos)
    throw Error(where + ": '" + name + "' is not a file name inside the case folder");
  return name;
}
}  // namespace

StoredCase load_case(const std::string& dir) {
  StoredCase sc;
  sc.dir = dir;
  const std::string cj = dir + "/case.json";
  if (!fs::exists(cj)) throw Error(dir + ": not a case folder (no case.json)");
  try {
    sc.meta = nlohmann::json::parse(read_text(cj));
    sc.rank = sc.meta.at("rank").get<Index>();
    sc.mu = sc.meta.at("mu").get<double>();
    const nlohmann::json files = sc.meta.value("files", nlohmann::json::object());
    sc.w_path = dir + "/" + case_file_name(files.value("W", "W.npy"), cj + " files.W");
    sc.x_path = dir + "/" + case_file_name(files.value("X", "X.npy"), cj + " files.X");
  } catch (const nlohmann::json::exception& e) {
    throw Error(cj + ": bad case description: " + e.what());
  }
  // Validate the data itself (an invalid case is refused by what is wrong with it, not by a flag).
  const MatrixXd W = read_matrix(sc.w_path, "weights W");
  NpyRowStream X(sc.x_path, "activations X");
  SolveOptions opt;
  opt.rank = sc.rank;
  opt.mu = sc.mu;
  validate_problem(W.rows(), W.cols(), X, opt);
  MatrixXd block;
  BlockReader<double> blocks(X, 8192);  // every row read: NaN/Inf and a short file are refused here
  while (blocks.next(block)) {
  }
  const std::string rj = dir + "/reference.json";
  if (!fs::exists(rj)) throw Error(dir + ": no reference.json (generate it with `lowrank gen`)");
  ReferenceSolution& ref = sc.ref;
  try {
    const nlohmann::json j = nlohmann::json::parse(read_text(rj));
    ref.m = W.rows();
    ref.n = W.cols();
    ref.N = X.rows();
    ref.rank = sc.rank;
    ref.mu = sc.mu;
    ref.bits = j.at("bits").get<int>();
    ref.objective = parse_long_double(j.at("objective").get<std::string>(), rj + " objective");
    for (const auto& s : j.at("singular_values")) ref.singular_values.push_back(parse_long_double(s.get<std::string>(), rj + " singular value"));
    ref.unique = j.at("unique").get<bool>();
    ref.norm_w_2 = j.at("norm_w_2").get<double>();
    ref.norm_w_fro = j.at("norm_w_fro").get<double>();
    const auto xs = j.at("x_singular_values").get<std::vector<double>>();
    ref.norm_x_2 = xs.empty() ? 0.0 : xs.front();
    ref.x_min = xs.empty() ? 0.0 : xs.back();
    ref.W_star = read_matrix(dir + "/" + case_file_name(j.at("files").at("W_star").get<std::string>(), rj + " files.W_star"),
                             "reference W'_*");
    // Absent in references before ratio version 2 (and where it is not finite): Wedin's kappa only.
    ref.kappa_structured = j.contains("kappa_structured") && j["kappa_structured"].is_number()
                               ? j["kappa_structured"].get<double>() : 0.0;
  } catch (const nlohmann::json::exception& e) {
    throw Error(rj + ": bad reference: " + e.what());
  }
  if (ref.W_star.rows() != W.rows() || ref.W_star.cols() != W.cols())
    throw Error(dir + ": reference W_star is " + shape_str(ref.W_star.rows(), ref.W_star.cols()) + " but W is " +
                shape_str(W.rows(), W.cols()));
  return sc;
}

std::string default_corpus_dir() {
  if (const char* e = std::getenv("LOWRANK_CORPUS")) return e;
  return LOWRANK_CORPUS_DIR;
}

}  // namespace lowrank::data
