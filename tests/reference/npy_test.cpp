// .npy reading and writing (core/): round trips and every refusal, each message checked for the
// file name and the fault. All comparisons here are exact: .npy stores IEEE values bit for bit,
// so a round trip that is not exact is a bug (float32 entries are compared after one rounding of
// the double to float, which is what the file holds).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "common.hpp"
#include "lowrank/core/error.hpp"
#include "lowrank/core/npy.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/core/solution.hpp"

namespace lowrank::test {
namespace {


// Evaluated in two steps: Eigen 3.4's fused m.cast<float>().cast<double>() left the last entries
// of a 23 x 6 matrix unrounded in this build (the expression's tail path skips the float step).
MatrixXd round_to_float(const MatrixXd& m) {
  const MatrixXf f = m.cast<float>();
  return f.cast<double>();
}

TEST(NpyRoundTrip, Float64AndFloat32TwoD) {
  ScratchDir dir;
  const MatrixXd m = gaussian(7, 5, 1) * 1e3;
  write_npy(dir.file("a64.npy"), m, Dtype::float64);
  write_npy(dir.file("a32.npy"), m, Dtype::float32);
  Dtype d64, d32;
  const MatrixXd r64 = read_matrix(dir.file("a64.npy"), "a", &d64);
  const MatrixXd r32 = read_matrix(dir.file("a32.npy"), "a", &d32);
  EXPECT_EQ(d64, Dtype::float64);
  EXPECT_EQ(d32, Dtype::float32);
  EXPECT_TRUE(r64 == m);
  EXPECT_TRUE(r32 == round_to_float(m));
  // The writer pads the header so that the data starts at a multiple of 64 bytes (NumPy's rule).
  EXPECT_EQ(read_npy_header(dir.file("a64.npy")).data_offset % 64, 0);
  // No temporary file left behind by the atomic write.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(dir.path())) (void)e, ++files;
  EXPECT_EQ(files, 2);
}

TEST(NpyRoundTrip, FortranOrderReadsAsTheSameMatrix) {
  ScratchDir dir;
  const MatrixXd m = gaussian(6, 4, 2);
  for (bool f32 : {false, true}) {
    write_matrix_raw(dir.file("c.npy"), m, false, f32);
    write_matrix_raw(dir.file("f.npy"), m, true, f32);
    const MatrixXd want = f32 ? round_to_float(m) : m;
    EXPECT_TRUE(read_matrix(dir.file("c.npy")) == want);
    EXPECT_TRUE(read_matrix(dir.file("f.npy")) == want);
    EXPECT_TRUE(read_npy_header(dir.file("f.npy")).fortran_order);
  }
}

TEST(NpyRoundTrip, ZeroDAndOneD) {
  ScratchDir dir;
  // 0-D: shape (), one element.
  write_bytes(dir.file("s.npy"), npy_bytes(npy_dict("<f8", false, "()"), payload(MatrixXd::Constant(1, 1, -2.5), false)));
  const NpyMatrix s = read_npy(dir.file("s.npy"));
  EXPECT_TRUE(s.header.shape.empty());
  ASSERT_EQ(s.values.rows(), 1);
  ASSERT_EQ(s.values.cols(), 1);
  EXPECT_EQ(s.values(0, 0), -2.5);
  // A 0-D array is not a matrix.
  expect_error([&] { read_matrix(dir.file("s.npy"), "weights W"); }, {dir.file("s.npy"), "2-D", "0-D"});
  // 1-D through the writer, float64 and float32.
  const VectorXd v = gaussian(9, 1, 3).col(0);
  write_npy_vector(dir.file("v64.npy"), v, Dtype::float64);
  write_npy_vector(dir.file("v32.npy"), v, Dtype::float32);
  const NpyMatrix v64 = read_npy(dir.file("v64.npy"));
  const NpyMatrix v32 = read_npy(dir.file("v32.npy"));
  ASSERT_EQ(v64.header.shape, std::vector<std::int64_t>{9});
  EXPECT_TRUE(v64.values == MatrixXd(v));
  EXPECT_TRUE(v32.values == round_to_float(MatrixXd(v)));
  expect_error([&] { read_matrix(dir.file("v64.npy"), "weights W"); }, {"2-D", "1-D"});
  // Version 2.0 header (4-byte length) is read too.
  write_bytes(dir.file("v2.npy"), npy_bytes(npy_dict("<f8", false, "(2, 3)"), payload(gaussian(2, 3, 4), false), 2));
  EXPECT_TRUE(read_matrix(dir.file("v2.npy")) == gaussian(2, 3, 4));
}

TEST(NpyRoundTrip, EmptyShapesRoundTrip) {
  ScratchDir dir;
  write_npy(dir.file("e.npy"), MatrixXd(0, 5));
  const MatrixXd e = read_matrix(dir.file("e.npy"));
  EXPECT_EQ(e.rows(), 0);
  EXPECT_EQ(e.cols(), 5);
}

// NpyRowStream must give the same rows for C and Fortran order and for every block size,
// including blocks that do not divide N and blocks larger than N.
// A source that declares `rows` rows but delivers blocks of the given shapes.
class LyingSource final : public RowBlockSource {
 public:
  LyingSource(Index rows, Index cols, std::vector<std::pair<Index, Index>> blocks)
      : rows_(rows), cols_(cols), blocks_(std::move(blocks)) {}
  Index rows() const override { return rows_; }
  Index cols() const override { return cols_; }
  double data_unit_roundoff() const override { return 0x1p-53; }
  void reset() override { at_ = 0; }
  bool next(Index, MatrixXd& block) override {
    if (at_ == blocks_.size()) return false;
    block = MatrixXd::Ones(blocks_[at_].first, blocks_[at_].second);
    ++at_;
    return true;
  }
  std::string name() const override { return "lying"; }

 private:
  Index rows_, cols_;
  std::vector<std::pair<Index, Index>> blocks_;
  std::size_t at_ = 0;
};

template <class T> std::string block_loop_error(LyingSource src, Index block_rows) {
  Mat<T> block;
  try {
    BlockReader<T> r(src, block_rows);
    while (r.next(block)) {
    }
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(BlockReader, RefusesASourceThatDoesNotDeliverWhatItDeclared) {
  // Exact delivery, in blocks of at most block_rows: no error, every scalar type.
  EXPECT_EQ(block_loop_error<double>(LyingSource(7, 3, {{4, 3}, {3, 3}}), 4), "");
  EXPECT_EQ(block_loop_error<float>(LyingSource(7, 3, {{4, 3}, {3, 3}}), 4), "");
  // Short, long, wider, oversized blocks: one message with the source and the counts.
  EXPECT_EQ(block_loop_error<double>(LyingSource(7, 3, {{4, 3}}), 4), "lying: delivered 4 of its 7 rows");
  EXPECT_EQ(block_loop_error<float>(LyingSource(7, 3, {{4, 3}}), 4), "lying: delivered 4 of its 7 rows");
  EXPECT_EQ(block_loop_error<double>(LyingSource(7, 3, {{4, 3}, {4, 3}}), 4),
            "lying: after 4 of 7 rows, a block of 4 x 3 (expected 1..3 rows of 3)");
  EXPECT_EQ(block_loop_error<double>(LyingSource(7, 3, {{4, 2}}), 4),
            "lying: after 0 of 7 rows, a block of 4 x 2 (expected 1..4 rows of 3)");
  EXPECT_EQ(block_loop_error<double>(LyingSource(7, 3, {{5, 3}}), 4),
            "lying: after 0 of 7 rows, a block of 5 x 3 (expected 1..4 rows of 3)");
}

TEST(NpyRowStream, FortranAndCOrderGiveTheSameBlocks) {
  ScratchDir dir;
  const MatrixXd x = gaussian(23, 6, 5);
  for (bool f32 : {false, true}) {
    write_matrix_raw(dir.file("c.npy"), x, false, f32);
    write_matrix_raw(dir.file("f.npy"), x, true, f32);
    const MatrixXd want = f32 ? round_to_float(x) : x;
    for (const char* name : {"c.npy", "f.npy"}) {
      NpyRowStream s(dir.file(name));
      EXPECT_EQ(s.rows(), 23);
      EXPECT_EQ(s.cols(), 6);
      EXPECT_EQ(s.data_unit_roundoff(), f32 ? 0x1p-24 : 0x1p-53);
      for (Index b : {1, 4, 7, 23, 100}) {
        s.reset();
        MatrixXd block, got(0, 6);
        Index blocks = 0;
        while (s.next(b, block)) {
          EXPECT_LE(block.rows(), b);
          MatrixXd g(got.rows() + block.rows(), 6);
          g << got, block;
          got = g;
          ++blocks;
        }
        EXPECT_EQ(blocks, (23 + b - 1) / b) << name << " block " << b;
        Index di = 0, dj = 0;
        if (got.rows() == want.rows()) (got - want).cwiseAbs().maxCoeff(&di, &dj);
        EXPECT_TRUE(got == want) << name << " block " << b << (f32 ? " f32" : " f64") << ": first difference at (" << di << ", " << dj << "): " << (got.rows() == want.rows() ? got(di, dj) : 0.0) << " vs " << want(di, dj);
      }
    }
  }
}

// next_float (what a float32 backend reads) is next() rounded once to float, bit for bit, in both
// orders and dtypes, for blocks larger than one 4 MiB read (the reader's piece) and smaller.
TEST(NpyRowStream, FloatBlocksAreTheDoubleBlocksRoundedOnce) {
  ScratchDir dir;
  const MatrixXd x = gaussian(40000, 16, 12);  // 5 MB as float64: a block of it spans two reads
  for (bool f32 : {false, true})
    for (bool fortran : {false, true}) {
      const std::string p = dir.file(std::string(fortran ? "f" : "c") + (f32 ? "32" : "64") + ".npy");
      write_matrix_raw(p, x, fortran, f32);
      NpyRowStream a(p), b(p);
      for (Index rows : {Index(37000), Index(999)}) {
        a.reset();
        b.reset();
        MatrixXd d;
        MatrixXf f;
        Index seen = 0;
        while (a.next(rows, d)) {
          ASSERT_TRUE(b.next_float(rows, f));
          ASSERT_EQ(f.rows(), d.rows());
          EXPECT_TRUE(f == d.cast<float>()) << p << " rows from " << seen;
          seen += d.rows();
        }
        EXPECT_FALSE(b.next_float(rows, f));
        EXPECT_EQ(seen, 40000);
      }
    }
}

// Two bad entries in one block, the later one in row-major order first in the file's (Fortran)
// order: both readers name the first in row-major order, the row the token is on.
TEST(NpyRowStream, FirstNonFiniteInRowOrderIsNamedByBothReaders) {
  ScratchDir dir;
  MatrixXd x = gaussian(300000, 3, 13);  // 7 MB: the bad entries sit in different 4 MiB reads
  x(250000, 0) = std::numeric_limits<double>::infinity();
  x(200000, 2) = std::numeric_limits<double>::quiet_NaN();
  for (bool fortran : {false, true}) {
    const std::string p = dir.file(fortran ? "f.npy" : "c.npy");
    write_matrix_raw(p, x, fortran);
    NpyRowStream a(p);
    MatrixXd d;
    MatrixXf f;
    expect_error([&] { a.next(300000, d); }, {p, "(200000, 2)", "NaN"});
    a.reset();
    expect_error([&] { a.next_float(300000, f); }, {p, "(200000, 2)", "NaN"});
  }
}

// ---- refusals --------------------------------------------------------------------------------

class NpyRefusal : public ::testing::Test {
 protected:
  ScratchDir dir;
  std::string good_dict = npy_dict("<f8", false, "(2, 3)");
  std::string good_data = payload(gaussian(2, 3, 6), false);
  std::string make(const std::string& name, const std::string& bytes) {
    write_bytes(dir.file(name), bytes);
    return dir.file(name);
  }
};

TEST_F(NpyRefusal, TruncatedFiles) {
  const std::string full = npy_bytes(good_dict, good_data);
  const auto p1 = make("short_magic.npy", full.substr(0, 5));
  expect_error([&] { read_npy(p1); }, {p1, "truncated"});
  const auto p2 = make("short_header.npy", full.substr(0, 30));
  expect_error([&] { read_npy(p2); }, {p2, "truncated"});
  const auto p3 = make("short_data.npy", full.substr(0, full.size() - 1));
  expect_error([&] { read_npy(p3); }, {p3, "truncated", "48 bytes", "47"});
  expect_error([&] { NpyRowStream s(p3); }, {p3, "truncated"});
}

TEST_F(NpyRefusal, BadMagicAndHeader) {
  std::string bytes = npy_bytes(good_dict, good_data);
  bytes[1] = 'X';
  const auto p1 = make("magic.npy", bytes);
  expect_error([&] { read_npy(p1); }, {p1, "bad magic"});
  const auto p2 = make("notdict.npy", npy_bytes("'descr': '<f8'", good_data));
  expect_error([&] { read_npy(p2); }, {p2, "bad .npy header", "not a dict"});
  const auto p3 = make("nodescr.npy", npy_bytes("{'fortran_order': False, 'shape': (2, 3), }", good_data));
  expect_error([&] { read_npy(p3); }, {p3, "bad .npy header", "descr"});
  const auto p4 = make("fo.npy", npy_bytes("{'descr': '<f8', 'fortran_order': Maybe, 'shape': (2, 3), }", good_data));
  expect_error([&] { read_npy(p4); }, {p4, "fortran_order"});
  const auto p5 = make("shape.npy", npy_bytes(npy_dict("<f8", false, "(2, -3)"), good_data));
  expect_error([&] { read_npy(p5); }, {p5, "bad .npy header", "shape"});
  const auto p6 = make("version.npy", [&] { std::string b = npy_bytes(good_dict, good_data); b[6] = 9; return b; }());
  expect_error([&] { read_npy(p6); }, {p6, "version 9"});
}

TEST_F(NpyRefusal, BigEndianAndUnsupportedDtypes) {
  const auto p1 = make("be.npy", npy_bytes(npy_dict(">f8", false, "(2, 3)"), good_data));
  expect_error([&] { read_npy(p1); }, {p1, "big-endian", ">f8"});
  const auto p2 = make("i4.npy", npy_bytes(npy_dict("<i4", false, "(2, 3)"), std::string(24, '\0')));
  expect_error([&] { read_npy(p2); }, {p2, "unsupported dtype", "<i4"});
  const auto p3 = make("c16.npy", npy_bytes(npy_dict("<c16", false, "(2, 3)"), std::string(96, '\0')));
  expect_error([&] { read_npy(p3); }, {p3, "unsupported dtype", "<c16"});
  expect_error([&] { NpyRowStream s(p3); }, {p3, "<c16"});
}

// Fuzzer finding (tests/fuzz/seeds/npy_fuzz/regression_timeout_rows_without_columns.npy): a shape
// (N, 0) holds no data bytes, so it passed the size check and streamed N empty blocks.
TEST_F(NpyRefusal, TokensWithoutFeaturesAndShapesBeyondAnyFile) {
  const auto p1 = make("nx0.npy", npy_bytes(npy_dict("<f8", false, "(93417653, 0)"), ""));
  expect_error([&] { NpyRowStream s(p1); }, {p1, "(93417653, 0)", "tokens without features"});
  // 2^40 x 2^40 doubles: the byte count overflows 64 bits; refused before any comparison or allocation.
  const auto p2 = make("huge.npy", npy_bytes(npy_dict("<f8", false, "(1099511627776, 1099511627776)"), ""));
  expect_error([&] { read_npy(p2); }, {p2, "declares more bytes than any file holds"});
}

TEST_F(NpyRefusal, ThreeDAndShapeDataMismatch) {
  const auto p1 = make("3d.npy", npy_bytes(npy_dict("<f8", false, "(2, 2, 2)"), std::string(64, '\0')));
  expect_error([&] { read_npy(p1); }, {p1, "3 dimensions"});
  expect_error([&] { NpyRowStream s(p1); }, {p1, "3 dimensions"});
  const auto p2 = make("extra.npy", npy_bytes(good_dict, good_data + std::string(8, '\0')));
  expect_error([&] { read_npy(p2); }, {p2, "does not match the data", "8 bytes"});
  const auto p3 = make("1d_x.npy", npy_bytes(npy_dict("<f8", false, "(6,)"), good_data));
  expect_error([&] { NpyRowStream s(p3, "activations X"); }, {p3, "activations X", "2-D", "1-D"});
}

TEST_F(NpyRefusal, NonFiniteEntries) {
  MatrixXd w = gaussian(3, 4, 7);
  w(2, 1) = std::numeric_limits<double>::quiet_NaN();
  const auto p1 = dir.file("nan.npy");
  write_matrix_raw(p1, w);
  expect_error([&] { read_matrix(p1, "weights W"); }, {p1, "weights W", "(2, 1)", "NaN"});
  w(2, 1) = -std::numeric_limits<double>::infinity();
  write_matrix_raw(p1, w, true, true);  // Fortran order, float32 Inf
  expect_error([&] { read_matrix(p1, "weights W"); }, {p1, "(2, 1)", "Inf"});
  // A streamed X with the bad entry deep inside the 5th block: refused when that block is read,
  // with the global row number.
  MatrixXd x = gaussian(50, 4, 8);
  x(37, 3) = std::numeric_limits<double>::infinity();
  for (bool fortran : {false, true}) {
    const auto p2 = dir.file(fortran ? "xf.npy" : "xc.npy");
    write_matrix_raw(p2, x, fortran);
    NpyRowStream s(p2);
    MatrixXd block;
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(s.next(8, block));
    expect_error([&] { s.next(8, block); }, {p2, "(37, 3)", "Inf"});
  }
  // The writer refuses too, and leaves no file.
  expect_error([&] { write_npy(dir.file("out.npy"), w); }, {"out.npy", "Inf"});
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.npy")));
}

// The pre-work scan maps the file one 16 MiB window at a time: a bad entry in any window, the last
// entry included, is named with its (row, column) and byte offset, in both orders, and the scan of
// a 40 MiB file leaves the resident set as it was (a whole-file mapping would add the file's pages
// to the peak, so the streaming solve's peak memory would grow with N).
TEST_F(NpyRefusal, NonFiniteScanAcrossWindowsKeepsMemoryFlat) {
  const Index N = 5 * (1 << 18) / 4, n = 8;  // 327680 x 8 float64 = 20 MiB: two windows
  MatrixXd x = MatrixXd::Constant(N, n, 0.5);
  for (bool fortran : {false, true}) {
    const auto p = dir.file(fortran ? "wf.npy" : "wc.npy");
    write_matrix_raw(p, x, fortran);
    NpyRowStream(p).require_all_finite();  // clean: no throw
    // Just past the first window ((16 MiB / 8 B) items) and the very last entry.
    const Index items_per_window = (Index(16) << 20) / 8;
    for (Index item : {items_per_window, items_per_window - 1, N * n - 1}) {
      MatrixXd y = x;
      const Index i = fortran ? item % N : item / n, j = fortran ? item / N : item % n;
      y(i, j) = std::numeric_limits<double>::quiet_NaN();
      write_matrix_raw(p, y, fortran);
      expect_error([&] { NpyRowStream(p, "activations X").require_all_finite(); },
                   {p, "(" + std::to_string(i) + ", " + std::to_string(j) + ")", "NaN", "before any work",
                    "byte offset " + std::to_string(std::filesystem::file_size(p) - N * n * 8 + item * 8)});
    }
  }
  // Memory: a 40 MiB float32 file, written in pieces; the process's peak resident set is reset
  // (clear_refs 5, Linux >= 4.0) and must not rise by more than one window during the scan.
  const Index R = 10 * (1 << 20) / 8;  // R x 8 float32 = 40 MiB
  const auto pb = dir.file("big.npy");
  {
    std::ofstream f(pb, std::ios::binary | std::ios::trunc);
    const std::string head = npy_bytes(npy_dict("<f4", false, shape2(R, 8)), "");
    f.write(head.data(), std::streamsize(head.size()));
    const std::vector<float> chunk(1 << 20, 0.25f);
    for (Index k = 0; k < R * 8; k += Index(chunk.size()))
      f.write(reinterpret_cast<const char*>(chunk.data()), std::streamsize(sizeof(float) * chunk.size()));
  }
  ASSERT_EQ(std::filesystem::file_size(pb), std::uintmax_t(R * 8 * 4) + npy_bytes(npy_dict("<f4", false, shape2(R, 8)), "").size());
  auto vm_hwm = [] { return proc_status_bytes("VmHWM"); };  // peak resident set since the last reset
  std::ofstream("/proc/self/clear_refs") << "5";
  const long before = vm_hwm();
  NpyRowStream(pb).require_all_finite();
  EXPECT_LE(vm_hwm() - before, 20L << 20) << "the scan raised the peak resident set by more than a window";
}

TEST_F(NpyRefusal, MissingFileAndBadDtypeName) {
  const auto p = dir.file("nope.npy");
  expect_error([&] { read_npy(p); }, {p, "cannot open"});
  expect_error([&] { NpyRowStream s(p); }, {p, "cannot open"});
  expect_error([&] { parse_dtype("int8"); }, {"unknown dtype", "int8"});
}

}  // namespace
}  // namespace lowrank::test
