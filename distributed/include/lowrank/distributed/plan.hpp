#pragma once
// The facts every rank must agree on before streaming: the activation files (globs expanded),
// their shapes and dtypes, and who streams what. Rank 0 reads the headers (one reader, not P:
// no metadata storm on a parallel file system) and broadcasts them.
#include <string>
#include <vector>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/distributed/comm.hpp"
#include "lowrank/distributed/shards.hpp"

namespace lowrank::distributed {

struct Plan {
  std::vector<std::string> files;
  std::vector<Index> file_rows;
  std::vector<double> file_u;  // unit roundoff of each file's dtype
  Index n = 0, N = 0;          // features (W's columns), tokens in all files
  double u_data = 0x1p-53;     // the coarsest file's unit roundoff
  Assignment assignment;       // filled by broadcast_plan
  std::string name() const;    // "X (3 files: a.npy, b.npy, c.npy)" for messages
};

// Rank 0: expands the patterns (an --acts value with * ? [ that names no file is a glob, sorted;
// one that matches nothing is an error), reads each header, refuses anything that is not 2-D with
// n columns (naming the file). Throws Error; no MPI.
Plan scan_files(const std::vector<std::string>& acts, Index n);

// Every rank: rank 0's plan to all, then the assignment for comm.size() ranks.
void broadcast_plan(const Comm& comm, Plan& plan, SplitMode mode);

// The plan's X as a RowBlockSource with the right shape and name, for validate_problem (reading
// from it throws: the data is streamed by the ranks).
class PlanShape final : public RowBlockSource {
 public:
  explicit PlanShape(const Plan& p) : p_(p) {}
  Index rows() const override { return p_.N; }
  Index cols() const override { return p_.n; }
  double data_unit_roundoff() const override { return p_.u_data; }
  void reset() override {}
  bool next(Index, MatrixXd&) override;
  std::string name() const override { return p_.name(); }

 private:
  const Plan& p_;
};

// This rank's rows of X: the pieces of its files, one after the other.
ConcatRowSource open_pieces(const Plan& plan, const std::vector<Piece>& pieces);

}  // namespace lowrank::distributed
