// distributed/ without mpirun: the shard assignment, the wire format of the tree's messages, and
// the row-range / concatenated sources the ranks stream from.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <numeric>

#include "lowrank/core/npy.hpp"
#include "lowrank/core/row_source.hpp"
#include "lowrank/distributed/shards.hpp"
#include "lowrank/distributed/wire.hpp"
#include "lowrank/distributed/wire_mpreal.hpp"

namespace ld = lowrank::distributed;
using lowrank::Index;

namespace {

// Every row of every file exactly once, in file order within each rank, and pieces non-empty.
void expect_cover(const std::vector<Index>& rows, const ld::Assignment& a) {
  std::vector<std::vector<int>> seen(rows.size());
  for (std::size_t f = 0; f < rows.size(); ++f) seen[f].assign(std::size_t(rows[f]), 0);
  for (const auto& rank : a.ranks) {
    for (std::size_t i = 0; i < rank.size(); ++i) {
      const ld::Piece& q = rank[i];
      ASSERT_LT(q.begin, q.end);
      ASSERT_LE(q.end, rows[q.file]);
      if (i > 0) {
        EXPECT_LE(rank[i - 1].file, q.file);
      }
      for (Index r = q.begin; r < q.end; ++r) ++seen[q.file][std::size_t(r)];
    }
  }
  for (std::size_t f = 0; f < rows.size(); ++f)
    for (int c : seen[f]) EXPECT_EQ(c, 1) << "file " << f;
}

}  // namespace

TEST(Shards, RowsSplitIsBalancedAndCoversEveryRow) {
  const std::vector<Index> rows = {397, 0, 131, 250, 222};
  const Index N = std::accumulate(rows.begin(), rows.end(), Index(0));
  for (int P = 1; P <= 9; ++P) {
    const ld::Assignment a = ld::assign_shards(rows, P, ld::SplitMode::rows);
    EXPECT_EQ(a.mode, ld::SplitMode::rows);
    ASSERT_EQ(a.ranks.size(), std::size_t(P));
    expect_cover(rows, a);
    for (int p = 0; p < P; ++p) {
      EXPECT_GE(a.rows_of(std::size_t(p)), N / P);
      EXPECT_LE(a.rows_of(std::size_t(p)), (N + P - 1) / P);
    }
  }
}

TEST(Shards, MoreRanksThanRowsLeavesRanksEmpty) {
  const std::vector<Index> rows = {2, 1};
  const ld::Assignment a = ld::assign_shards(rows, 5, ld::SplitMode::automatic);
  EXPECT_EQ(a.mode, ld::SplitMode::rows);
  expect_cover(rows, a);
  int empty = 0;
  for (std::size_t p = 0; p < 5; ++p) empty += a.rows_of(p) == 0;
  EXPECT_EQ(empty, 2);
}

TEST(Shards, FilesSplitIsLargestFirst) {
  const std::vector<Index> rows = {100, 100, 100, 100};
  const ld::Assignment a = ld::assign_shards(rows, 4, ld::SplitMode::automatic);
  EXPECT_EQ(a.mode, ld::SplitMode::files);  // equal files: file p on rank p
  for (std::size_t p = 0; p < 4; ++p) {
    ASSERT_EQ(a.ranks[p].size(), 1u);
    EXPECT_EQ(a.ranks[p][0].file, p);
  }
  const std::vector<Index> uneven = {50, 300, 100, 200, 150, 0};
  const ld::Assignment b = ld::assign_shards(uneven, 3, ld::SplitMode::files);
  expect_cover(uneven, b);
  // LPT: 300 -> r0, 200 -> r1, 150 -> r2, 100 -> r2, 50 -> r1: loads 300, 250, 250.
  EXPECT_EQ(b.rows_of(0), 300);
  EXPECT_EQ(b.rows_of(1), 250);
  EXPECT_EQ(b.rows_of(2), 250);
  // auto keeps whole files only when the most loaded rank is within 5/4 of N / P = 266.7: 300 is.
  EXPECT_EQ(ld::assign_shards(uneven, 3, ld::SplitMode::automatic).mode, ld::SplitMode::files);
  // One big file among small ones: files would give 1000 vs N/P = 275; auto cuts rows.
  const std::vector<Index> skewed = {1000, 10, 50, 40};
  EXPECT_EQ(ld::assign_shards(skewed, 4, ld::SplitMode::automatic).mode, ld::SplitMode::rows);
  // Fewer files than ranks: rows.
  EXPECT_EQ(ld::assign_shards({10, 10}, 3, ld::SplitMode::automatic).mode, ld::SplitMode::rows);
}

TEST(Shards, ParseSplitMode) {
  EXPECT_EQ(ld::parse_split_mode("rows"), ld::SplitMode::rows);
  EXPECT_THROW(ld::parse_split_mode("blocks"), lowrank::Error);
}

TEST(Wire, IeeeRoundTripIsExactAndTriangleIsHalf) {
  lowrank::Mat<double> R = lowrank::Mat<double>::Random(7, 7);
  R = R.triangularView<Eigen::Upper>();
  R(0, 0) = -0.0;
  R(1, 2) = 1e-310;  // subnormal
  const std::string full = ld::pack_matrix(R, false), tri = ld::pack_matrix(R, true);
  EXPECT_EQ(tri.size() - 17, 7u * 8u * 8u / 2u);  // n (n + 1) / 2 doubles after the 17-byte header
  EXPECT_EQ(full.size() - 17, 49u * 8u);
  const lowrank::Mat<double> back = ld::unpack_matrix<double>(tri);
  EXPECT_EQ(back, R);
  EXPECT_TRUE(std::signbit(back(0, 0)));
  EXPECT_EQ(ld::unpack_matrix<double>(full), R);
  EXPECT_THROW(ld::unpack_matrix<double>(tri.substr(0, tri.size() - 1)), lowrank::Error);
  lowrank::Mat<float> F = lowrank::Mat<float>::Random(3, 5);
  EXPECT_EQ(ld::unpack_matrix<float>(ld::pack_matrix(F, false)), F);
}

TEST(Wire, MprealRoundTripIsExact) {
  lowrank::set_reference_bits(300);
  lowrank::MatrixMP M(2, 3);
  M << lowrank::mpreal(1) / 3, -mpfr::sqrt(lowrank::mpreal(2)), lowrank::mpreal(0),
      mpfr::ldexp(lowrank::mpreal(1), -1000) / 7, lowrank::mpreal("-1e-300") * lowrank::mpreal(1) / 3, lowrank::mpreal(-0.0);
  const lowrank::MatrixMP back = ld::unpack_matrix<lowrank::mpreal>(ld::pack_matrix(M, false));
  for (Index j = 0; j < 3; ++j)
    for (Index i = 0; i < 2; ++i) {
      EXPECT_EQ(mpfr_cmp(back(i, j).mpfr_srcptr(), M(i, j).mpfr_srcptr()), 0) << i << "," << j;
      EXPECT_EQ(back(i, j).get_prec(), 300);
    }
  EXPECT_TRUE(mpfr_signbit(back(1, 2).mpfr_srcptr()));
  lowrank::set_reference_bits(256);
}

TEST(RowRanges, PiecesOfFilesConcatenate) {
  const std::string dir = (std::filesystem::temp_directory_path() / ("lowrank_rr_" + std::to_string(::getpid()))).string();
  std::filesystem::create_directories(dir);
  lowrank::MatrixXd X = lowrank::MatrixXd::Random(9, 4);
  lowrank::write_npy(dir + "/x.npy", X);
  lowrank::write_npy(dir + "/empty.npy", lowrank::MatrixXd(0, 4));
  std::vector<std::unique_ptr<lowrank::RowBlockSource>> parts;
  parts.push_back(std::make_unique<lowrank::NpyRowStream>(dir + "/x.npy", 6, 9));
  parts.push_back(std::make_unique<lowrank::NpyRowStream>(dir + "/empty.npy"));
  parts.push_back(std::make_unique<lowrank::NpyRowStream>(dir + "/x.npy", 1, 3));
  lowrank::ConcatRowSource src(std::move(parts), 4, "pieces");
  EXPECT_EQ(src.rows(), 5);
  lowrank::MatrixXd got(0, 4), block;
  for (int pass = 0; pass < 2; ++pass) {  // reset() starts again
    src.reset();
    got.resize(0, 4);
    while (src.next(2, block)) {
      got.conservativeResize(got.rows() + block.rows(), 4);
      got.bottomRows(block.rows()) = block;
    }
    ASSERT_EQ(got.rows(), 5);
    EXPECT_EQ(got.topRows(3), X.middleRows(6, 3));
    EXPECT_EQ(got.bottomRows(2), X.middleRows(1, 2));
  }
  EXPECT_THROW(lowrank::NpyRowStream(dir + "/x.npy", 4, 10), lowrank::Error);
  std::vector<std::unique_ptr<lowrank::RowBlockSource>> bad;
  bad.push_back(std::make_unique<lowrank::NpyRowStream>(dir + "/x.npy"));
  try {
    lowrank::ConcatRowSource s(std::move(bad), 5, "bad");
    ADD_FAILURE() << "a part with 4 columns was accepted for n = 5";
  } catch (const lowrank::Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.npy"), std::string::npos) << e.what();
  }
  std::filesystem::remove_all(dir);
}
