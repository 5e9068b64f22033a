#pragma once
// Token-block sources for the activations X (N x n, one row per token). Every solver reads X
// through this interface, so calibration data larger than memory streams in bounded memory.
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "lowrank/core/matrix.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"

namespace lowrank {

class RowBlockSource {
 public:
  virtual ~RowBlockSource() = default;
  virtual Index rows() const = 0;  // N, tokens
  virtual Index cols() const = 0;  // n, features
  // Unit roundoff of the stored data (2^-24 for float32, 2^-53 for float64): below this, the
  // data says nothing, so rank decisions are made relative to it.
  virtual double data_unit_roundoff() const = 0;
  virtual void reset() = 0;
  // Fills `block` with the next at most `max_rows` rows (as doubles); false when exhausted.
  virtual bool next(Index max_rows, MatrixXd& block) = 0;
  // The same rows in single precision, for a float32 backend: equal to next()'s block rounded to
  // float, without holding the block in double (a float32 stream of 65536 x 256 blocks then needs
  // 64 MiB, not 192). This default goes through next(); file and wrapper sources override it.
  virtual bool next_float(Index max_rows, MatrixXf& block) {
    MatrixXd d;
    if (!next(max_rows, d)) return false;
    block = d.cast<float>();
    return true;
  }
  virtual std::string name() const = 0;
};

// The one block loop over X, used by every backend's streaming (stream_r / stream_gram in
// driver.hpp, CpuBackend's TSQR and syrk, the CUDA pipeline's reader): resets the source, hands out
// its blocks in T (float read straight as float by next_float, double by next, any other scalar,
// e.g. mpreal, through double) and checks that the source delivers exactly the rows it declared,
// in blocks of 1..block_rows rows of its width; anything else (a file that shrank, an iterator that
// ended early or ran long) is an Error naming the source and the counts.
template <class T> class BlockReader {
 public:
  BlockReader(RowBlockSource& X, Index block_rows) : X_(X), block_rows_(block_rows) { X_.reset(); }
  // The next block into `block`; false at the end of X (after the row-count check).
  bool next(Mat<T>& block) {
    bool more;
    if constexpr (std::is_same_v<T, double>) {
      more = X_.next(block_rows_, block);
    } else if constexpr (std::is_same_v<T, float>) {
      more = X_.next_float(block_rows_, block);
    } else {
      more = X_.next(block_rows_, staged_);
      if (more) block = staged_.template cast<T>();
    }
    if (!more) {
      if (done_ != X_.rows())
        throw Error(X_.name() + ": delivered " + std::to_string(done_) + " of its " + std::to_string(X_.rows()) +
                    " rows");
      return false;
    }
    if (block.cols() != X_.cols() || block.rows() < 1 || block.rows() > block_rows_ || done_ + block.rows() > X_.rows())
      throw Error(X_.name() + ": after " + std::to_string(done_) + " of " + std::to_string(X_.rows()) +
                  " rows, a block of " + shape_str(block.rows(), block.cols()) + " (expected 1.." +
                  std::to_string(std::min(block_rows_, X_.rows() - done_)) + " rows of " + std::to_string(X_.cols()) + ")");
    done_ += block.rows();
    return true;
  }
  Index done() const { return done_; }  // rows delivered so far

 private:
  RowBlockSource& X_;
  Index block_rows_, done_ = 0;
  MatrixXd staged_;
};

// Rows of an .npy file, read block by block with buffered reads (C or Fortran order); only one
// block is ever held in memory. NaN/Inf is refused with the row and column where it sits.
//
// With a row range [row_begin, row_end) the stream is those rows of the file only (a shard of a
// distributed run, distributed/); messages still give the row index in the file.
class NpyRowStream final : public RowBlockSource {
 public:
  explicit NpyRowStream(const std::string& path, const std::string& what = "activations X");
  NpyRowStream(const std::string& path, Index row_begin, Index row_end,
               const std::string& what = "activations X");
  ~NpyRowStream() override;
  NpyRowStream(const NpyRowStream&) = delete;
  NpyRowStream& operator=(const NpyRowStream&) = delete;
  Index rows() const override { return end_ - begin_; }
  Index cols() const override { return cols_; }
  double data_unit_roundoff() const override;
  void reset() override { next_row_ = begin_; }
  bool next(Index max_rows, MatrixXd& block) override;
  bool next_float(Index max_rows, MatrixXf& block) override;
  std::string name() const override { return path_; }
  const NpyHeader& header() const { return header_; }
  // Scans the whole file for NaN/Inf through a read-only memory map, at disk speed, and throws
  // Error naming the first one (row, column, byte offset). Called before any work; next() still
  // checks each block, for a file that changes while it is read.
  void require_all_finite() const;
  Index file_rows() const { return rows_; }  // N of the whole file

 private:
  template <class S> bool read_rows(Index max_rows, Mat<S>& block);
  std::string path_, what_;
  NpyHeader header_;
  Index rows_ = 0, cols_ = 0, next_row_ = 0, begin_ = 0, end_ = 0;
  std::FILE* file_ = nullptr;
  std::vector<char> buffer_;
};

// Several sources one after the other: the rows of X are those of the first source, then the
// second's, ... (X split over several files: `lowrank solve --acts a.npy --acts b.npy`, and a
// rank's shards in a distributed run). Every part must have the same number of columns (checked
// here, naming the part); parts with no rows are allowed. The data unit roundoff is the coarsest
// part's (a float32 part among float64 ones makes X float32-accurate).
class ConcatRowSource final : public RowBlockSource {
 public:
  ConcatRowSource(std::vector<std::unique_ptr<RowBlockSource>> parts, Index cols, std::string name);
  Index rows() const override { return rows_; }
  Index cols() const override { return cols_; }
  double data_unit_roundoff() const override { return u_; }
  void reset() override;
  bool next(Index max_rows, MatrixXd& block) override;
  bool next_float(Index max_rows, MatrixXf& block) override;
  std::string name() const override { return name_; }
  // The part the last next() read from (for messages), "" before the first.
  std::string current_part() const;

 private:
  std::vector<std::unique_ptr<RowBlockSource>> parts_;
  Index rows_ = 0, cols_ = 0;
  double u_ = 0;
  std::string name_;
  std::size_t at_ = 0;
};

// An in-memory X (tests, generated cases).
class MatrixRowSource final : public RowBlockSource {
 public:
  explicit MatrixRowSource(MatrixXd x, double unit_roundoff = 0x1p-53, std::string name = "memory")
      : x_(std::move(x)), u_(unit_roundoff), name_(std::move(name)) {}
  Index rows() const override { return x_.rows(); }
  Index cols() const override { return x_.cols(); }
  double data_unit_roundoff() const override { return u_; }
  void reset() override { next_row_ = 0; }
  bool next(Index max_rows, MatrixXd& block) override {
    if (next_row_ >= x_.rows()) return false;
    const Index b = std::min(max_rows, x_.rows() - next_row_);
    block = x_.middleRows(next_row_, b);
    next_row_ += b;
    return true;
  }
  std::string name() const override { return name_; }

 private:
  MatrixXd x_;
  double u_;
  std::string name_;
  Index next_row_ = 0;
};

// Progress of the passes over X, on stderr, for every backend (they all read X through a
// RowBlockSource): tokens done of N, rate and the estimated time left, refreshed in place on a
// terminal (every 0.5 s) and as a line every 10 s otherwise. As soon as the first block of a pass
// is done, a pass projected to take more than 5 s is announced with its estimate (the reference
// backend's calibration: its first block times the MPFR arithmetic at the chosen --bits).
class ProgressSource final : public RowBlockSource {
 public:
  // label: "reference", "cpu", ...; `asked`: --progress was given (phases are then always
  // announced; otherwise only once the run has taken more than a second).
  ProgressSource(RowBlockSource& inner, std::string label, bool asked = false);
  ~ProgressSource() override;
  Index rows() const override { return inner_.rows(); }
  Index cols() const override { return inner_.cols(); }
  double data_unit_roundoff() const override { return inner_.data_unit_roundoff(); }
  void reset() override;
  bool next(Index max_rows, MatrixXd& block) override;
  bool next_float(Index max_rows, MatrixXf& block) override;
  std::string name() const override { return inner_.name(); }
  // A phase after the passes ("svd of W R^T, 512 x 512"): printed with the time since the start.
  void phase(const std::string& what);

 private:
  void print(bool final);
  void end_pass();
  bool count(bool more, Index rows);  // after the inner source's next: progress bookkeeping
  RowBlockSource& inner_;
  std::string label_;
  bool tty_;
  int pass_ = 0;
  Index done_ = 0;
  double start_ = 0, pass_start_ = 0, last_ = 0;
  bool asked_, printed_ = false, calibrated_ = false, announced_ = false;
};

}  // namespace lowrank
