#include "lowrank/core/results.hpp"

#include <cstdio>

namespace lowrank {

namespace {
std::string cell(const char* fmt, double x) {
  if (std::isnan(x)) return "-";
  char buf[48];
  std::snprintf(buf, sizeof buf, fmt, x);
  return buf;
}
}  // namespace

std::string result_header() {
  char buf[256];
  std::snprintf(buf, sizeof buf, "%-6s %-30s %-34s %10s %9s %7s  %-8s %s", "group", "name", "shape", "sec", "GFLOP/s",
                "peak", "verdict", "error ratios / note");
  return buf;
}

std::string format_row(const ResultRow& r) {
  std::string ratios;
  for (const auto& [k, v] : r.ratios)
    if (!std::isnan(v)) ratios += k + "=" + cell("%.2g", v) + " ";  // not computed: not printed
  const std::string shape = r.shape.size() > 34 ? r.shape.substr(0, 31) + "..." : r.shape;
  char buf[512];
  std::snprintf(buf, sizeof buf, "%-6s %-30s %-34s %10s %9s %7s  %-8s ", r.group.c_str(), r.name.c_str(),
                shape.c_str(), cell("%.4f", r.seconds).c_str(), cell("%.2f", r.gflops).c_str(),
                cell("%.1f%%", 100 * r.peak_fraction).c_str(), r.verdict.c_str());
  return buf + ratios + r.note;
}

void Summary::add(const std::string& v) {
  if (v == "ok" || v == "PASS") ++passed;
  else if (v == "failed" || v == "FAIL") ++failed;
  else if (v == "SUSPECT") ++suspect;
  else if (v == "REFUSED") ++refused;
  else ++errors;
}

std::string Summary::line(const std::string& what) const {
  std::string s = what + ": " + std::to_string(passed) + " passed, " + std::to_string(failed) + " failed";
  if (suspect) s += ", " + std::to_string(suspect) + " suspect";
  if (refused) s += ", " + std::to_string(refused) + " refused";
  if (errors) s += ", " + std::to_string(errors) + " errors";
  return s + " (of " + std::to_string(run()) + " run)";
}

}  // namespace lowrank
