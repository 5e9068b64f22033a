// The case table of the corpus. Each entry: a name, tags, what makes it hard, a seed, and the
// specs of W (m x n) and X (N x n, one row per token). Changing an entry changes committed data:
// regenerate with `lowrank gen` and commit both.
#include <cmath>
#include <cstdio>

#include "lowrank/core/error.hpp"
#include "lowrank/data/corpus.hpp"

namespace lowrank::data {
namespace {

MatrixSpec mat(Index rows, Index cols, Mode mode, double cond, Dtype dt = Dtype::float64) {
  MatrixSpec s;
  s.rows = rows;
  s.cols = cols;
  s.mode = mode;
  s.cond = cond;
  s.dtype = dt;
  return s;
}

std::string cond_name(double c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "1e%02d", int(std::lround(std::log10(c))));
  return buf;
}

std::vector<CaseDef> build() {
  std::vector<CaseDef> v;
  // The seed of a case is a hash of its name (FNV-1a, 64 bits): adding or reordering cases never
  // changes another case's data.
  auto add = [&](CaseDef c) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char ch : c.name) h = (h ^ ch) * 0x100000001b3ULL;
    c.seed = h;
    v.push_back(std::move(c));
  };
  const Index m = 48, n = 32, N = 96, r = 8;
  const MatrixSpec W0 = mat(m, n, Mode::geometric, 1e2);

  // 1. Condition of X, 1 .. 1e16 (geometric mode), mu = 0.
  for (double c : {1.0, 1e2, 1e4, 1e6, 1e8, 1e10, 1e12, 1e14, 1e16}) {
    CaseDef k;
    k.name = "cond_" + cond_name(c);
    k.tags = {"cond", c >= 1e8 ? "ill-conditioned" : "well-conditioned"};
    k.hard = "X has condition number " + cond_name(c) + " (geometric singular values): the Gram matrix X X^T has " +
             (c >= 1e8 ? "condition ~" + cond_name(c * c) + ", beyond 1/u in float64: Cholesky breaks down or loses every digit"
                       : "condition ~" + cond_name(c * c));
    k.rank = r;
    k.w = W0;
    k.x = mat(N, n, Mode::geometric, c);
    add(k);
  }
  // 2. The other DLATMS modes.
  const std::pair<Mode, double> modes[] = {{Mode::arithmetic, 1e8}, {Mode::one_small, 1e12}, {Mode::one_large, 1e8},
                                           {Mode::clustered, 1e10}, {Mode::log_uniform, 1e12}};
  for (auto [mode, c] : modes) {
    CaseDef k;
    k.name = std::string("mode_") + mode_name(mode) + "_" + cond_name(c);
    k.tags = {"mode", "cond", "ill-conditioned"};
    k.hard = std::string("X with singular values in mode ") + mode_name(mode) + ", condition " + cond_name(c);
    k.rank = r;
    k.w = W0;
    k.x = mat(N, n, mode, c);
    add(k);
  }
  // 3. Regularized, on ill-conditioned X.
  const std::tuple<Mode, double, double> regs[] = {{Mode::geometric, 1e8, 1e-6}, {Mode::geometric, 1e16, 1e-4},
                                                   {Mode::geometric, 1e12, 1e-10}, {Mode::log_uniform, 1e16, 1e-8}};
  for (auto [mode, c, mu] : regs) {
    CaseDef k;
    char buf[96];
    std::snprintf(buf, sizeof buf, "%s_%s_mu_%.0e", mode == Mode::geometric ? "cond" : "mode_log_uniform",
                  cond_name(c).c_str(), mu);
    k.name = buf;
    k.tags = {"mu", "cond", "ill-conditioned"};
    k.hard = "P_mu with mu = " + std::string(buf).substr(std::string(buf).rfind('_') + 1) + " on X of condition " +
             cond_name(c) + ": regularization must enter through qr_R([R; sqrt(mu) I]), not X X^T + mu I";
    k.rank = r;
    k.mu = mu;
    k.w = W0;
    k.x = mat(N, n, mode, c);
    add(k);
  }
  // 4. Rank deficiency of X.
  {
    CaseDef k;
    k.name = "rankdef_exact_k12_r8";
    k.tags = {"rank-deficient", "non-unique"};
    k.hard = "X has rank exactly 12 < n = 32 (stored exactly: integer factors): X X^T is singular; the minimizer W' is "
             "a continuum (any Z with Z X = 0 may be added), only W' X is determined";
    k.rank = r;
    k.w = W0;
    k.x = mat(N, n, Mode::geometric, 1e2);
    k.x.rank = 12;
    k.x.exact_rank = true;
    add(k);
    k.name = "rankdef_exact_k6_r8";
    k.tags = {"rank-deficient", "underdetermined", "non-unique"};
    k.hard = "X has rank exactly 6 < r = 8: rank(W X) = 6 < r, the data fixes only 6 directions";
    k.x.rank = 6;
    add(k);
    k.name = "rankdef_exact_k6_r8_mu_1e-03";
    k.tags = {"rank-deficient", "underdetermined", "mu"};
    k.hard = "X has rank exactly 6 < r = 8 with mu = 1e-3: unique minimizer, the last r - k directions come from mu ||W - W'||^2";
    k.mu = 1e-3;
    add(k);
    k.name = "rankdef_numerical_k12_r8";
    k.tags = {"rank-deficient", "ill-conditioned"};
    k.hard = "X = round(U diag(s) V^T) with 20 zero singular values: after rounding, 20 singular values ~ u ||X|| "
             "(numerically rank deficient, cond ~ 1e16)";
    k.mu = 0;
    k.x = mat(N, n, Mode::geometric, 1e2);
    k.x.rank = 12;
    add(k);
  }
  // 5. Fewer tokens than features (N < n), and fewer than the rank (N < r).
  {
    CaseDef k;
    k.name = "few_tokens_N20_n32";
    k.tags = {"underdetermined", "rank-deficient", "non-unique"};
    k.hard = "N = 20 tokens < n = 32 features: X X^T is singular (rank 20); Gram-based formulas need a fallback";
    k.rank = r;
    k.w = W0;
    k.x = mat(20, n, Mode::geometric, 1e2);
    add(k);
    k.name = "few_tokens_N20_n32_mu_1e-04";
    k.tags = {"underdetermined", "mu"};
    k.mu = 1e-4;
    k.hard = "N = 20 < n = 32 with mu = 1e-4: unique minimizer through the regularization";
    add(k);
    k.name = "tokens_below_rank_N5_r8";
    k.tags = {"underdetermined", "few-tokens", "non-unique"};
    k.hard = "N = 5 tokens < r = 8: rank(W X) = 5 < r, only 5 directions are determined by the data (peft #2317)";
    k.mu = 0;
    k.x = mat(5, n, Mode::geometric, 10);
    add(k);
    k.name = "tokens_below_rank_N5_r8_mu_1e-03";
    k.tags = {"underdetermined", "few-tokens", "mu"};
    k.mu = 1e-3;
    k.hard = "N = 5 < r = 8 with mu = 1e-3: the last 3 directions come from W itself (MATH.md 1.2)";
    add(k);
    k.name = "single_token_N1_r4";
    k.tags = {"underdetermined", "few-tokens", "non-unique"};
    k.mu = 0;
    k.rank = 4;
    k.x = mat(1, n, Mode::geometric, 1);
    k.hard = "one token: X is 1 x n, rank(W X) = 1";
    add(k);
  }
  // 6. Ties at the cut (exact), and a control.
  {
    CaseDef k;
    k.kind = CaseKind::tie;
    k.w = mat(16, 16, Mode::geometric, 1);
    k.x = mat(32, 16, Mode::geometric, 1);
    k.name = "tie_at_cut_r4";
    k.tags = {"non-unique", "tie"};
    k.hard = "s_4 = s_5 exactly (W = H diag(8,7,6,5,5,4,3,2,2,1,...) H^T with Hadamard H, X^T X = 2 I): every "
             "rank-4 mix of the tied pair is optimal; only the objective is determined";
    k.rank = 4;
    add(k);
    k.name = "tie_at_cut_r4_mu_5e-01";
    k.tags = {"non-unique", "tie", "mu"};
    k.mu = 0.5;
    k.hard = "as tie_at_cut_r4 with mu = 0.5: X^T X + mu I is still a multiple of I, the tie stays";
    add(k);
    k.name = "tie_away_from_cut_r2";
    k.tags = {"tie", "well-conditioned"};
    k.mu = 0;
    k.rank = 2;
    k.hard = "same W and X as tie_at_cut_r4 but r = 2 (s_2 = 7 > s_3 = 6): unique minimizer; control case";
    add(k);
  }
  // 7. LLM-like outlier channels.
  {
    CaseDef k;
    k.name = "outliers_1e3";
    k.tags = {"outliers", "llm-like"};
    k.hard = "3 of 64 input features scaled by 1e3 (LLM outlier channels): ||X||_2 is set by the outliers";
    k.rank = 16;
    k.w = mat(64, 64, Mode::log_uniform, 1e2);
    k.x = mat(256, 64, Mode::log_uniform, 1e3);
    k.x.outlier_cols = {3, 17, 40};
    k.x.outlier_factor = 1e3;
    add(k);
    k.name = "outliers_1e4_cond_1e06";
    k.tags = {"outliers", "llm-like", "ill-conditioned"};
    k.hard = "outliers x1e4 on top of condition 1e6: overall condition ~1e10";
    k.x.mode = Mode::geometric;
    k.x.cond = 1e6;
    k.x.outlier_factor = 1e4;
    add(k);
    k.name = "outliers_1e2_mu_1e-02";
    k.tags = {"outliers", "llm-like", "mu"};
    k.hard = "outliers x1e2 with mu = 1e-2";
    k.x.mode = Mode::log_uniform;
    k.x.cond = 1e3;
    k.x.outlier_factor = 1e2;
    k.mu = 1e-2;
    add(k);
    // Many float32 tokens, one outlier channel (issue 11): a rank threshold that grows with N
    // (max(m, n, N) u s_1 = 170 here) declared the bulk (s_2..s_64 = 149..134) zero and `limit`
    // answered with rank(WX) = 1. The tolerances must not grow with N.
    k.name = "outlier_1e3_N20000_f32";
    k.tags = {"outliers", "llm-like", "float32", "many-tokens"};
    k.hard = "X 20000 x 64 float32 Gaussian with feature 5 scaled by 1e3 (s_1 = 1.4e5, bulk 134..149): "
             "a rank tolerance ~ N u s_1 (= 170) calls the bulk zero";
    k.rank = 16;
    k.mu = 0;
    k.w = mat(64, 64, Mode::gaussian, 1, Dtype::float32);
    k.x = mat(20000, 64, Mode::gaussian, 1, Dtype::float32);
    k.x.outlier_cols = {5};
    k.x.outlier_factor = 1e3;
    add(k);
  }
  // 8. float32 storage: near overflow, near underflow, ill-conditioned.
  {
    CaseDef k;
    k.rank = r;
    k.w = mat(m, n, Mode::geometric, 1e2, Dtype::float32);
    k.x = mat(N, n, Mode::geometric, 1e3, Dtype::float32);
    k.name = "f32_cond_1e03";
    k.tags = {"float32"};
    k.hard = "float32 data, condition 1e3: Gram condition 1e6, 1/10 of float32's 1/u";
    add(k);
    k.name = "f32_cond_1e06";
    k.tags = {"float32", "ill-conditioned"};
    k.hard = "float32 data, condition 1e6: the Gram matrix (condition 1e12) is singular in float32";
    k.x.cond = 1e6;
    add(k);
    k.name = "f32_overflow_1e20";
    k.tags = {"float32", "overflow"};
    k.hard = "||X||_2 = 1e20: X X^T (entries up to ~1e39) overflows float32 (max 3.4e38) to Inf; QR-based methods never square X";
    k.x.cond = 1e3;
    k.x.scale = 1e20;
    add(k);
    k.name = "f32_overflow_1e20_mu_1e36";
    k.tags = {"float32", "overflow", "mu"};
    k.hard = "as f32_overflow_1e20 with mu = 1e36 (1e-4 ||X||^2): mu itself is representable in float32, X X^T + mu I is not";
    k.mu = 1e36;
    add(k);
    k.name = "f32_underflow_1e-21";
    k.tags = {"float32", "underflow"};
    k.hard = "||X||_2 = 1e-21: X X^T (1e-42) underflows to float32 subnormals/zero";
    k.mu = 0;
    k.x.scale = 1e-21;
    add(k);
  }
  // 9. Degenerate shapes and ranks.
  {
    CaseDef k;
    k.w = W0;
    k.x = mat(N, n, Mode::geometric, 1e2);
    k.name = "rank_zero";
    k.tags = {"degenerate"};
    k.hard = "r = 0: A is m x 0, B is 0 x n, W' = 0, the objective is ||W X||";
    k.rank = 0;
    add(k);
    k.name = "rank_zero_mu_1e-02";
    k.tags = {"degenerate", "mu"};
    k.mu = 1e-2;
    k.hard = "r = 0 with mu = 1e-2";
    add(k);
    k.name = "rank_full_tall_r32";
    k.tags = {"degenerate", "full-rank"};
    k.mu = 0;
    k.rank = 32;
    k.hard = "r = min(m, n) = n = 32: W' = W, objective 0";
    add(k);
    k.name = "rank_full_wide_m8_r8";
    k.tags = {"degenerate", "full-rank"};
    k.w = mat(8, n, Mode::geometric, 1e2);
    k.rank = 8;
    k.hard = "m = 8 < n = 32 and r = m (the largest valid rank; r > m is refused, see invalid_rank_above_m)";
    add(k);
    k.name = "rank_full_square_mu_1e-02";
    k.tags = {"degenerate", "full-rank", "mu"};
    k.w = mat(32, 32, Mode::geometric, 1e3);
    k.rank = 32;
    k.mu = 1e-2;
    k.hard = "square W, r = 32 = m = n, mu = 1e-2: W' = W";
    add(k);
    k.name = "single_feature_n1_r1";
    k.tags = {"degenerate", "n=1"};
    k.w = mat(8, 1, Mode::geometric, 1);
    k.x = mat(20, 1, Mode::geometric, 1);
    k.rank = 1;
    k.mu = 0;
    k.hard = "n = 1: W is a column, X a single feature; r = 1 = min(m, n)";
    add(k);
    k.name = "single_feature_n1_r0";
    k.rank = 0;
    k.hard = "n = 1, r = 0";
    add(k);
  }
  // 10. Well-conditioned and LLM-like controls.
  {
    CaseDef k;
    k.name = "well_conditioned_16";
    k.tags = {"well-conditioned"};
    k.hard = "nothing: W has four dominant singular values (then 1e-2, 1e-4, 1e-6), X has orthonormal columns; "
             "kappa ~ 2: a 1e3 u error in W' must be caught";
    k.rank = 4;
    k.w = mat(16, 16, Mode::clustered, 1e6);
    k.x = mat(64, 16, Mode::geometric, 1);
    add(k);
    k.name = "llm_like_64";
    k.tags = {"llm-like", "outliers"};
    k.hard = "log-uniform spectra (W cond 1e3, X cond 1e4) and 2 outlier channels x1e2";
    k.rank = 16;
    k.w = mat(64, 64, Mode::log_uniform, 1e3);
    k.x = mat(256, 64, Mode::log_uniform, 1e4);
    k.x.outlier_cols = {5, 50};
    k.x.outlier_factor = 1e2;
    add(k);
    k.name = "llm_like_64_mu_1e-03";
    k.tags = {"llm-like", "outliers", "mu"};
    k.mu = 1e-3;
    k.hard = "llm_like_64 with mu = 1e-3";
    add(k);
    k.name = "well_conditioned_f32";
    k.tags = {"well-conditioned", "float32"};
    k.hard = "float32 twin of well_conditioned_16";
    k.rank = 4;
    k.mu = 0;
    k.w = mat(16, 16, Mode::clustered, 1e6, Dtype::float32);
    k.x = mat(64, 16, Mode::geometric, 1, Dtype::float32);
    add(k);
  }
  // 11. Invalid cases: a checker and an implementation must refuse them.
  {
    CaseDef k;
    k.tags = {"invalid"};
    k.w = mat(16, 12, Mode::geometric, 10);
    k.x = mat(40, 12, Mode::geometric, 10);
    k.rank = 4;
    k.kind = CaseKind::invalid_nan_w;
    k.name = "invalid_nan_in_w";
    k.hard = "W(3, 5) is NaN";
    add(k);
    k.kind = CaseKind::invalid_inf_x;
    k.name = "invalid_inf_in_x";
    k.hard = "X(7, 2) is +Inf";
    add(k);
    k.kind = CaseKind::invalid_shape;
    k.name = "invalid_shape_mismatch";
    k.hard = "X has 13 features but W has n = 12 columns";
    add(k);
    k.kind = CaseKind::invalid_truncated;
    k.name = "invalid_truncated_x";
    k.hard = "X.npy is cut 100 bytes short of what its header declares";
    add(k);
    k.kind = CaseKind::invalid_rank;
    k.name = "invalid_rank_above_m";
    k.hard = "m = 16 < r = 20 (the 'm < r' shape): r > min(m, n) is refused, never silently clamped";
    k.rank = 20;
    add(k);
    k.kind = CaseKind::invalid_mu;
    k.name = "invalid_negative_mu";
    k.hard = "mu = -1e-3 < 0";
    k.rank = 4;
    k.mu = -1e-3;
    add(k);
  }
  // 12. Large cases: regenerated on demand (`lowrank gen --large`), never committed.
  {
    CaseDef k;
    k.large = true;
    k.name = "large_llm_like_256";
    k.tags = {"large", "llm-like", "outliers"};
    k.hard = "m = n = 256, N = 2048, log-uniform spectra, 4 outlier channels x1e3";
    k.rank = 64;
    k.w = mat(256, 256, Mode::log_uniform, 1e3);
    k.x = mat(2048, 256, Mode::log_uniform, 1e4);
    k.x.outlier_cols = {7, 77, 150, 201};
    k.x.outlier_factor = 1e3;
    add(k);
    k.name = "large_cond_1e12_256";
    k.tags = {"large", "cond", "ill-conditioned"};
    k.hard = "m = n = 256, N = 1024, X of condition 1e12";
    k.rank = 32;
    k.x = mat(1024, 256, Mode::geometric, 1e12);
    add(k);
    k.name = "large_tokens_below_rank_256";
    k.tags = {"large", "underdetermined", "few-tokens", "non-unique"};
    k.hard = "m = n = 256, N = 64 < r = 96";
    k.rank = 96;
    k.x = mat(64, 256, Mode::geometric, 1e2);
    add(k);
    k.name = "large_outlier_1e3_N200000_f32";
    k.tags = {"large", "outliers", "llm-like", "float32", "many-tokens"};
    k.hard = "X 200000 x 64 float32 Gaussian with feature 5 scaled by 1e3: N u s_1 = 5330 against a bulk of ~447";
    k.rank = 16;
    k.w = mat(64, 64, Mode::gaussian, 1, Dtype::float32);
    k.x = mat(200000, 64, Mode::gaussian, 1, Dtype::float32);
    k.x.outlier_cols = {5};
    k.x.outlier_factor = 1e3;
    add(k);
    k.x.outlier_cols.clear();
    k.x.outlier_factor = 1;
    k.name = "large_f32_overflow_256";
    k.tags = {"large", "float32", "overflow"};
    k.hard = "float32, m = n = 256, N = 1024, ||X||_2 = 1e20: X X^T overflows";
    k.rank = 32;
    k.w = mat(256, 256, Mode::geometric, 1e2, Dtype::float32);
    k.x = mat(1024, 256, Mode::geometric, 1e3, Dtype::float32);
    k.x.scale = 1e20;
    add(k);
  }
  return v;
}

}  // namespace

const std::vector<CaseDef>& corpus_cases() {
  static const std::vector<CaseDef> cases = build();
  return cases;
}

const CaseDef& find_case(const std::string& name) {
  for (const auto& c : corpus_cases())
    if (c.name == name) return c;
  throw Error("unknown case '" + name + "' (lowrank gen --list shows them)");
}

}  // namespace lowrank::data
