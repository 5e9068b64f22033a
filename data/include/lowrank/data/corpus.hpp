#pragma once
// The corpus of hard cases (MATH.md 1.5): the case table, generating a case from its seed,
// computing and storing its reference solution, and loading a stored case for `lowrank check`.
//
// A case folder holds W.npy (m x n), X.npy (N x n, one row per token), case.json (name, tags,
// shapes, rank, mu, dtype, seed, generator spec, what makes it hard, what a correct implementation
// must achieve) and, for valid cases, the reference: W_star.npy, A_ref.npy, B_ref.npy (float64,
// rounded once from MPFR) and reference.json (objective and singular values of W X_mu as
// 40-digit decimals, uniqueness, norms).
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lowrank/core/npy.hpp"
#include "lowrank/core/ratios.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/data/generate.hpp"

namespace lowrank::data {

enum class CaseKind {
  generated,          // W and X from MatrixSpec
  tie,                // exact tie s_r = s_{r+1}: W = H diag(d) H^T (Hadamard, integer d), X^T X = 2 c^2 I
  invalid_nan_w,      // W has a NaN
  invalid_inf_x,      // X has an Inf
  invalid_shape,      // X has n + 1 features
  invalid_truncated,  // X.npy is cut short
  invalid_rank,       // r > min(m, n) (the "m < r" request: refused, not clamped)
  invalid_mu          // mu < 0
};

struct CaseDef {
  std::string name;
  std::vector<std::string> tags;
  std::string hard;         // what makes it hard
  std::uint64_t seed = 0;
  Index rank = 0;
  double mu = 0.0;
  MatrixSpec w, x;          // x.rows = N tokens, x.cols = n features (file orientation)
  CaseKind kind = CaseKind::generated;
  bool large = false;       // not committed: `lowrank gen --large` regenerates it
  bool valid() const { return kind == CaseKind::generated || kind == CaseKind::tie; }
  Dtype dtype() const { return w.dtype; }
};

// Every case: the committed small ones, the invalid ones, and the large ones (large = true).
const std::vector<CaseDef>& corpus_cases();
const CaseDef& find_case(const std::string& name);  // throws lowrank::Error if unknown

// W and X of a case (values exactly representable in its dtype), bit for bit from its seed.
struct CaseData {
  MatrixXd W, X;
};
CaseData generate_case(const CaseDef& c, int bits = 256);

// The reference solution (COALA through lowrank::solve with the ReferenceBackend at `bits`),
// with `json` filled with what reference.json stores.
ReferenceSolution compute_reference(const MatrixXd& W, RowBlockSource& X, Index rank, double mu, int bits,
                                    nlohmann::json* json = nullptr, MatrixXd* A = nullptr, MatrixXd* B = nullptr);

// What a correct implementation must achieve on the case (text for the manifest).
std::string case_must(const CaseDef& c);
nlohmann::json case_json(const CaseDef& c);

// Writes the case folder `dir` (created): inputs, case.json and, for valid cases, the reference.
// Every file is written atomically. Returns case.json's content.
nlohmann::json write_case(const CaseDef& c, const std::string& dir, int bits = 256);

// A stored case, as `lowrank check --case DIR` reads it. Throws lowrank::Error when the folder
// is not a valid case (missing files, invalid case, reference inconsistent with the data).
struct StoredCase {
  nlohmann::json meta;   // case.json
  std::string dir, w_path, x_path;
  Index rank = 0;
  double mu = 0.0;
  ReferenceSolution ref;
};
StoredCase load_case(const std::string& dir);

// Default corpus folder (the source tree's data/corpus), overridable by LOWRANK_CORPUS.
std::string default_corpus_dir();

}  // namespace lowrank::data
