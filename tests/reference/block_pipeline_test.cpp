// The host side of the streaming pipeline (core/block_pipeline.hpp) against a fake device queue:
// the ordering the CUDA backend relies on, checked without a device.
//
// The fake queue models what matters on a GPU: an upload does not read its host buffer when it is
// submitted but some time later (here: at the latest moment allowed, when the host waits for it),
// so a buffer refilled too early would be caught holding the wrong block's rows. Random sleeps in
// the reader and in the waits shuffle the interleavings from run to run of the loop.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <random>
#include <set>
#include <thread>

#include "lowrank/core/block_pipeline.hpp"
#include "lowrank/core/random.hpp"

namespace lowrank {
namespace {

void nap(std::mt19937& g, int max_us) {
  std::this_thread::sleep_for(std::chrono::microseconds(std::uniform_int_distribution<int>(0, max_us)(g)));
}

// X's rows, handed out block by block, with a random delay per block (a slow disk).
class SlowSource final : public RowBlockSource {
 public:
  SlowSource(MatrixXd X, unsigned seed, Index fail_at_row = -1) : X_(std::move(X)), g_(seed), fail_at_(fail_at_row) {}
  Index rows() const override { return X_.rows(); }
  Index cols() const override { return X_.cols(); }
  double data_unit_roundoff() const override { return 0x1p-53; }
  void reset() override { at_ = 0; }
  bool next(Index max_rows, MatrixXd& block) override {
    nap(g_, 300);
    if (at_ == X_.rows()) return false;
    if (fail_at_ >= 0 && at_ + max_rows > fail_at_) throw IoError("slow: read error at row " + std::to_string(fail_at_));
    const Index b = std::min(max_rows, X_.rows() - at_);
    block = X_.middleRows(at_, b);
    at_ += b;
    return true;
  }
  std::string name() const override { return "slow"; }

 private:
  MatrixXd X_;
  std::mt19937 g_;
  Index at_ = 0, fail_at_;
};

class FakeQueue {
 public:
  FakeQueue(int slots, Index block_rows, const MatrixXd& X, unsigned seed, Index fail_submit_at = -1)
      : buf_(std::size_t(slots), MatrixXd(block_rows, X.cols())), X_(X), block_rows_(block_rows), g_(seed),
        fail_submit_at_(fail_submit_at) {}
  int slots() const { return int(buf_.size()); }
  double* host(int slot) { return buf_[std::size_t(slot)].data(); }
  void submit(int slot, Index block, Index rows) {
    if (block == fail_submit_at_) throw Error("fake device: launch failed at block " + std::to_string(block));
    EXPECT_EQ(block, Index(pending_.size() + done_.size())) << "blocks submitted in order";
    EXPECT_EQ(slot, int(block % slots())) << "block " << block << " in the ring's slot";
    pending_.push_back({slot, block, rows});
    EXPECT_LE(Index(pending_.size()), slots()) << "more uploads in flight than host buffers";
  }
  void wait_upload(Index block) {
    nap(g_, 200);
    ASSERT_FALSE(pending_.empty()) << "waiting for block " << block << " that was never submitted";
    const Pending p = pending_.front();
    pending_.erase(pending_.begin());
    EXPECT_EQ(p.block, block) << "uploads complete in submission order";
    // The DMA reads the buffer now: it must still hold block `block`'s rows.
    const Index r0 = block * block_rows_;
    const MatrixXd got = Eigen::Map<const MatrixXd>(buf_[std::size_t(p.slot)].data(), p.rows, X_.cols());  // ld = rows
    EXPECT_TRUE(got == X_.middleRows(r0, p.rows)) << "host buffer " << p.slot << " overwritten before block "
                                                  << block << "'s upload read it";
    done_.insert(block);
  }
  std::size_t in_flight() const { return pending_.size(); }
  std::size_t completed() const { return done_.size(); }

 private:
  struct Pending {
    int slot;
    Index block, rows;
  };
  std::vector<MatrixXd> buf_;
  const MatrixXd& X_;
  Index block_rows_;
  std::mt19937 g_;
  Index fail_submit_at_;
  std::vector<Pending> pending_;
  std::set<Index> done_;
};

// The pipeline's exception of type E (its message), or "" when it returned or threw another type.
template <class E> std::string pipeline_error(RowBlockSource& src, Index block_rows, FakeQueue& q) {
  try {
    run_block_pipeline<double>(src, block_rows, q);
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

TEST(BlockPipeline, EveryBlockIsUploadedFromAnUntouchedBufferInOrder) {
  SplitMixRng rng(7);
  const MatrixXd X = gaussian(203, 5, rng);  // 203 = 12 blocks of 17 rows, the last one short
  for (int slots : {1, 2, 3}) {
    for (unsigned seed = 0; seed < 8; ++seed) {
      SlowSource src(X, seed);
      FakeQueue q(slots, 17, X, 100 + seed);
      const PipelineStats st = run_block_pipeline<double>(src, 17, q);
      EXPECT_EQ(st.blocks, 12) << slots << " slots";
      EXPECT_EQ(st.rows, 203);
      EXPECT_EQ(q.completed(), 12u) << "every upload waited for before returning";
      EXPECT_EQ(q.in_flight(), 0u);
      EXPECT_GT(st.seconds_reading, 0.0);
    }
  }
}

TEST(BlockPipeline, EmptyAndSingleBlockStreams) {
  SplitMixRng rng(8);
  const MatrixXd X = gaussian(9, 4, rng);
  SlowSource one(X, 1);
  FakeQueue q1(2, 64, X, 2);
  EXPECT_EQ(run_block_pipeline<double>(one, 64, q1).blocks, 1);
  EXPECT_EQ(q1.completed(), 1u);
  const MatrixXd none(0, 4);
  SlowSource empty(none, 3);
  FakeQueue q0(2, 64, none, 4);
  EXPECT_EQ(run_block_pipeline<double>(empty, 64, q0).blocks, 0);
}

// A read error in the reader thread reaches the caller as itself (an IoError, its message), after
// the uploads already queued have completed: the caller may free the host buffers at once.
TEST(BlockPipeline, ReaderErrorsReachTheCallerAfterTheQueueDrained) {
  SplitMixRng rng(9);
  const MatrixXd X = gaussian(100, 3, rng);
  for (unsigned seed = 0; seed < 4; ++seed) {
    SlowSource src(X, seed, /*fail_at_row=*/60);
    FakeQueue q(2, 10, X, seed);
    EXPECT_EQ(pipeline_error<IoError>(src, 10, q), "slow: read error at row 60");
    EXPECT_EQ(q.in_flight(), 0u);
    EXPECT_EQ(q.completed(), 6u);  // rows 0..59 went through
  }
  // The block loop's own checks run in the reader too: a source that declares more rows than it has.
  class Short final : public RowBlockSource {
   public:
    Index rows() const override { return 50; }
    Index cols() const override { return 3; }
    double data_unit_roundoff() const override { return 0x1p-53; }
    void reset() override { at_ = 0; }
    bool next(Index b, MatrixXd& block) override {
      if (at_ >= 30) return false;
      block = MatrixXd::Zero(std::min<Index>(b, 30 - at_), 3);
      at_ += block.rows();
      return true;
    }
    std::string name() const override { return "short"; }

   private:
    Index at_ = 0;
  } shorty;
  const MatrixXd zeros = MatrixXd::Zero(50, 3);
  FakeQueue q(2, 10, zeros, 5);
  EXPECT_EQ(pipeline_error<Error>(shorty, 10, q), "short: delivered 30 of its 50 rows");
  EXPECT_EQ(q.in_flight(), 0u);
}

// A failing device call stops the reader (no hang, no thread left running) and is rethrown.
TEST(BlockPipeline, QueueErrorsStopTheReader) {
  SplitMixRng rng(10);
  const MatrixXd X = gaussian(120, 3, rng);
  for (Index fail_at : {0, 1, 5}) {
    SlowSource src(X, unsigned(fail_at));
    FakeQueue q(2, 10, X, 11, fail_at);
    EXPECT_EQ(pipeline_error<Error>(src, 10, q), "fake device: launch failed at block " + std::to_string(fail_at));
    EXPECT_EQ(q.in_flight(), 0u);
    EXPECT_EQ(q.completed(), std::size_t(fail_at));
  }
}

// float blocks are read as float (BlockReader), straight into the float host buffers.
TEST(BlockPipeline, FloatBuffers) {
  SplitMixRng rng(12);
  const MatrixXd X = gaussian(40, 3, rng).cast<float>().cast<double>();
  struct FloatQueue {
    std::vector<MatrixXf> buf{MatrixXf(16, 3), MatrixXf(16, 3)};
    MatrixXf got = MatrixXf(0, 3);
    int slots() const { return 2; }
    float* host(int s) { return buf[std::size_t(s)].data(); }
    void submit(int s, Index, Index rows) {
      MatrixXf g(got.rows() + rows, 3);
      g << got, Eigen::Map<const MatrixXf>(buf[std::size_t(s)].data(), rows, 3);
      got = g;
    }
    void wait_upload(Index) {}
  } q;
  SlowSource src(X, 1);
  EXPECT_EQ(run_block_pipeline<float>(src, 16, q).blocks, 3);
  EXPECT_TRUE(q.got.cast<double>() == X);
}

}  // namespace
}  // namespace lowrank
