#include "lowrank/core/report.hpp"

#include <sys/resource.h>

#include <fstream>
#include <string>

#include "lowrank/core/error.hpp"

namespace lowrank {

const std::vector<std::string>& method_names() {
  static const std::vector<std::string> names = {"coala", "limit", "svd-llm", "svd-llm-v2", "pinv", "damped"};
  return names;
}

const char* method_name(Method m) { return method_names()[static_cast<int>(m)].c_str(); }
const char* status_name(SolveStatus s) { return s == SolveStatus::ok ? "ok" : "failed"; }

Method parse_method(const std::string& s) {
  const auto& names = method_names();
  for (std::size_t i = 0; i < names.size(); ++i)
    if (names[i] == s) return static_cast<Method>(i);
  throw Error("unknown method '" + s + "' (expected coala, limit, svd-llm, svd-llm-v2, pinv or damped)");
}

long proc_status_bytes(const std::string& field) {
  std::ifstream f("/proc/self/status");
  const std::string want = field + ":";
  std::string key;
  while (f >> key) {
    if (key == want) {
      long kb = -1;
      return f >> kb && kb >= 0 ? kb * 1024L : -1;
    }
    std::getline(f, key);
  }
  return -1;
}

long peak_rss_bytes() {
  const long hwm = proc_status_bytes("VmHWM");
  if (hwm >= 0) return hwm;
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss * 1024L;
}

nlohmann::json to_json(const SolveReport& r) {
  nlohmann::json j;
  j["method"] = r.method;
  j["backend"] = r.backend;
  j["precision"] = r.precision;
  j["shape"] = {{"m", r.m}, {"n", r.n}, {"N", r.N}};
  j["rank"] = r.rank;
  j["mu"] = r.mu;
  j["status"] = status_name(r.status);
  if (!r.failure.empty()) j["failure"] = r.failure;
  j["objective"] = r.objective;
  j["objective_decimal"] = r.objective_decimal;
  j["objective_mu"] = r.objective_mu;
  j["eckart_young_tail"] = r.eckart_young_tail;
  j["eckart_young_tail_decimal"] = r.eckart_young_tail_decimal;
  j["singular_values"] = r.singular_values;
  j["singular_values_decimal"] = r.singular_values_decimal;
  j["gap"] = r.gap;
  j["unique"] = r.unique;
  j["uniqueness_tol"] = r.uniqueness_tol;
  j["x_rank"] = r.x_rank;
  j["x_rank_tol"] = r.x_rank_tol;
  j["x_singular_values"] = r.x_singular_values;
  if (r.wx_rank >= 0) {
    j["wx_rank"] = r.wx_rank;
    j["wx_rank_tol"] = r.wx_rank_tol;
  }
  j["notes"] = r.notes;
  j["seconds"] = r.seconds;
  nlohmann::json extra = r.extra;
  if (r.wx_rank >= 0) {
    extra["wx_s_k"] = r.wx_s_k;
    extra["wx_s_k_plus_1"] = r.wx_s_k_plus_1;
  }
  if (r.perp_gap) extra["perp_gap"] = *r.perp_gap;
  if (r.fallback_shift) extra["fallback_shift"] = *r.fallback_shift;
  if (r.damping) extra["damping"] = *r.damping;
  j["extra"] = extra;
  if (!r.blas.config.empty())
    j["blas"] = {{"config", r.blas.config}, {"kernel", r.blas.kernel}, {"threads", r.blas.threads}};
  j["peak_rss_bytes"] = r.peak_rss_bytes;
  return j;
}

}  // namespace lowrank
