#include "lowrank/distributed/plan.hpp"

#include <glob.h>

#include <filesystem>
#include <memory>

#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"

namespace lowrank::distributed {

std::string Plan::name() const {
  if (files.size() == 1) return files[0];
  std::string s = "X (" + std::to_string(files.size()) + " files: ";
  for (std::size_t i = 0; i < files.size() && i < 4; ++i) s += (i ? ", " : "") + files[i];
  if (files.size() > 4) s += ", ...";
  return s + ")";
}

bool PlanShape::next(Index, MatrixXd&) { throw Error("PlanShape: the ranks stream the data, not the plan"); }

namespace {
std::vector<std::string> expand(const std::vector<std::string>& acts) {
  std::vector<std::string> out;
  for (const auto& a : acts) {
    const bool pattern = a.find_first_of("*?[") != std::string::npos;
    if (!pattern || std::filesystem::exists(a)) {
      out.push_back(a);
      continue;
    }
    glob_t g{};
    const int rc = ::glob(a.c_str(), 0, nullptr, &g);  // sorted (no GLOB_NOSORT)
    if (rc == GLOB_NOMATCH) {
      globfree(&g);
      throw Error("--acts " + a + ": no file matches this pattern");
    }
    if (rc != 0) {
      globfree(&g);
      throw Error("--acts " + a + ": cannot expand the pattern (glob error " + std::to_string(rc) + ")");
    }
    for (std::size_t i = 0; i < g.gl_pathc; ++i) out.emplace_back(g.gl_pathv[i]);
    globfree(&g);
  }
  return out;
}
}  // namespace

Plan scan_files(const std::vector<std::string>& acts, Index n) {
  Plan p;
  p.n = n;
  p.files = expand(acts);
  if (p.files.empty()) throw Error("--acts: no activation files given");
  p.u_data = 0;
  for (const auto& f : p.files) {
    if (std::filesystem::is_directory(f)) throw Error(f + ": is a directory, not an .npy file (activations X)");
    const NpyHeader h = read_npy_header(f);
    if (h.shape.size() != 2)
      throw Error(f + ": activations X must be a 2-D array (N tokens x n features), got " +
                  std::to_string(h.shape.size()) + "-D");
    if (h.shape[1] != n)
      throw Error(f + ": is " + shape_str(h.shape[0], h.shape[1]) + " but W has n = " + std::to_string(n) +
                  " columns; every activation file must be N_i x " + std::to_string(n) + " (one row per token)");
    p.file_rows.push_back(h.shape[0]);
    p.file_u.push_back(h.dtype == Dtype::float32 ? 0x1p-24 : 0x1p-53);
    p.N += h.shape[0];
    p.u_data = std::max(p.u_data, p.file_u.back());
  }
  return p;
}

void broadcast_plan(const Comm& comm, Plan& plan, SplitMode mode) {
  std::string names;
  if (comm.rank() == 0)
    for (const auto& f : plan.files) names += f + '\0';
  comm.bcast_bytes(names, 0);
  if (comm.rank() != 0) {
    plan.files.clear();
    std::size_t at = 0;
    while (at < names.size()) {
      const std::size_t z = names.find('\0', at);
      plan.files.push_back(names.substr(at, z - at));
      at = z + 1;
    }
  }
  std::vector<Index> rows = plan.file_rows;
  comm.bcast_pod(rows, 0);
  plan.file_rows = rows;
  std::vector<double> u = plan.file_u;
  comm.bcast_pod(u, 0);
  plan.file_u = u;
  std::vector<Index> nN = {plan.n, plan.N};
  comm.bcast_pod(nN, 0);
  plan.n = nN[0];
  plan.N = nN[1];
  std::vector<double> ud = {plan.u_data};
  comm.bcast_pod(ud, 0);
  plan.u_data = ud[0];
  plan.assignment = assign_shards(plan.file_rows, comm.size(), mode);
}

ConcatRowSource open_pieces(const Plan& plan, const std::vector<Piece>& pieces) {
  std::vector<std::unique_ptr<RowBlockSource>> parts;
  std::string name;
  for (const Piece& q : pieces) {
    parts.push_back(std::make_unique<NpyRowStream>(plan.files.at(q.file), q.begin, q.end, "activations X"));
    name += (name.empty() ? "" : " + ") + plan.files[q.file] + "[" + std::to_string(q.begin) + ":" +
            std::to_string(q.end) + "]";
  }
  return ConcatRowSource(std::move(parts), plan.n, name.empty() ? "no rows" : name);
}

}  // namespace lowrank::distributed
