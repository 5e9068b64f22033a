#include "lowrank/distributed/shards.hpp"

#include <algorithm>
#include <numeric>

#include "lowrank/core/error.hpp"

namespace lowrank::distributed {

SplitMode parse_split_mode(const std::string& s) {
  if (s == "auto") return SplitMode::automatic;
  if (s == "files") return SplitMode::files;
  if (s == "rows") return SplitMode::rows;
  throw Error("--split must be auto, files or rows, got '" + s + "'");
}

const char* split_mode_name(SplitMode m) {
  switch (m) {
    case SplitMode::automatic: return "auto";
    case SplitMode::files: return "files";
    case SplitMode::rows: return "rows";
  }
  return "?";
}

Index Assignment::rows_of(std::size_t p) const {
  Index s = 0;
  for (const Piece& q : ranks.at(p)) s += q.end - q.begin;
  return s;
}

Index Assignment::max_rows() const {
  Index m = 0;
  for (std::size_t p = 0; p < ranks.size(); ++p) m = std::max(m, rows_of(p));
  return m;
}

namespace {

Assignment by_files(const std::vector<Index>& rows, int P) {
  Assignment a;
  a.mode = SplitMode::files;
  a.ranks.assign(std::size_t(P), {});
  std::vector<std::size_t> order(rows.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](std::size_t i, std::size_t j) { return rows[i] > rows[j]; });
  std::vector<Index> load(static_cast<std::size_t>(P), 0);
  std::vector<std::vector<std::size_t>> files(static_cast<std::size_t>(P));
  for (std::size_t f : order) {
    const std::size_t p = std::size_t(std::min_element(load.begin(), load.end()) - load.begin());
    load[p] += rows[f];
    files[p].push_back(f);
  }
  for (std::size_t p = 0; p < std::size_t(P); ++p) {
    std::sort(files[p].begin(), files[p].end());
    for (std::size_t f : files[p])
      if (rows[f] > 0) a.ranks[p].push_back(Piece{f, 0, rows[f]});
  }
  return a;
}

Assignment by_rows(const std::vector<Index>& rows, int P) {
  Assignment a;
  a.mode = SplitMode::rows;
  a.ranks.assign(std::size_t(P), {});
  const Index N = std::accumulate(rows.begin(), rows.end(), Index(0));
  // Global row g of X lies in file f at row g - start[f].
  std::vector<Index> start(rows.size() + 1, 0);
  for (std::size_t f = 0; f < rows.size(); ++f) start[f + 1] = start[f] + rows[f];
  for (int p = 0; p < P; ++p) {
    // floor(p N / P) without overflow for any N that fits in Index.
    const Index lo = Index((__int128)N * p / P), hi = Index((__int128)N * (p + 1) / P);
    for (std::size_t f = 0; f < rows.size(); ++f) {
      const Index b = std::max(lo, start[f]), e = std::min(hi, start[f + 1]);
      if (e > b) a.ranks[std::size_t(p)].push_back(Piece{f, b - start[f], e - start[f]});
    }
  }
  return a;
}

}  // namespace

Assignment assign_shards(const std::vector<Index>& file_rows, int P, SplitMode mode) {
  if (P < 1) throw Error("assign_shards: need at least one rank");
  for (Index r : file_rows)
    if (r < 0) throw Error("assign_shards: negative row count");
  if (mode == SplitMode::files) return by_files(file_rows, P);
  if (mode == SplitMode::rows) return by_rows(file_rows, P);
  if (file_rows.size() >= std::size_t(P)) {
    Assignment a = by_files(file_rows, P);
    const Index N = std::accumulate(file_rows.begin(), file_rows.end(), Index(0));
    // max load <= 5/4 N/P, in integers.
    if (4 * (__int128)a.max_rows() * P <= 5 * (__int128)N) return a;
  }
  return by_rows(file_rows, P);
}

}  // namespace lowrank::distributed
