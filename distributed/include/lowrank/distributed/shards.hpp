#pragma once
// Which rows of which activation files each rank streams (no MPI here: a pure function, tested
// on its own). X is the files' rows one after the other (file 0's, then file 1's, ...).
//
//   files  whole files per rank: largest first onto the least loaded rank (ties: lower file index,
//          lower rank), each rank's files in index order. A rank may get none (fewer files than
//          ranks): it contributes R = 0.
//   rows   X's N rows cut into P contiguous ranges of floor(N/P) or ceil(N/P) rows (rank p gets
//          global rows [floor(p N / P), floor((p + 1) N / P))), each range as pieces of the files
//          it crosses. Works for any P, also P > number of files or P > N.
//   auto   files when there are at least as many files as ranks and the most loaded rank gets at
//          most 5/4 of the mean N / P rows; rows otherwise.
// The R of X does not depend on the split (up to row signs and rounding, MATH.md 1.1).
#include <cstddef>
#include <string>
#include <vector>

#include "lowrank/core/matrix.hpp"

namespace lowrank::distributed {

enum class SplitMode { automatic, files, rows };
SplitMode parse_split_mode(const std::string& s);  // "auto" | "files" | "rows"; throws Error
const char* split_mode_name(SplitMode m);

struct Piece {
  std::size_t file = 0;  // index into the file list
  Index begin = 0, end = 0;  // rows [begin, end) of that file, end > begin
};

struct Assignment {
  SplitMode mode = SplitMode::rows;  // the one used (never automatic)
  std::vector<std::vector<Piece>> ranks;  // ranks[p]: what rank p streams, in order
  Index rows_of(std::size_t p) const;
  Index max_rows() const;
};

// file_rows[i]: rows of file i (0 allowed); P >= 1.
Assignment assign_shards(const std::vector<Index>& file_rows, int P, SplitMode mode);

}  // namespace lowrank::distributed
