#pragma once
// The host side of a streaming pipeline over X's row blocks (issue 12, item 5), written once and
// generic over the device queue, so that its ordering is tested without a device
// (tests/cpu/block_pipeline_test.cpp runs it against a fake queue) and the CUDA backend
// (fast/cuda) runs the same code against its streams and events.
//
// A reader thread reads X block by block (BlockReader: the one block loop, with its row-count
// checks) into a ring of the queue's host staging buffers (pinned memory on CUDA), while the
// calling thread hands each filled buffer to the queue (upload + compute, asynchronous). The one
// rule that makes this safe: a host buffer is refilled only after the upload that read it has
// completed. So with K buffers, block i goes to buffer i mod K, and the caller waits for upload
// i - K + 1 before the reader may refill that buffer with block i + 1; reading block i + 1 then
// overlaps the upload and compute of block i (and of earlier blocks still queued).
//
// Queue concept (all calls from the calling thread):
//   int slots() const;                        // K >= 1 host buffers
//   T* host(int slot);                        // buffer `slot`: room for block_rows x n, column-major
//   void submit(int slot, Index block, Index rows);  // enqueue the upload of host(slot)'s first
//                                             //   rows x n (ld rows) as block `block`, and its compute
//   void wait_upload(Index block);            // block the host until that upload has completed
//
// Before run_block_pipeline returns or throws, every submitted upload has been waited for: the
// caller may free or reuse the host buffers at once. An exception from the reader (a short file,
// NaN in X, a read error) or from the queue stops both threads and reaches the caller unchanged.
#include <chrono>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "lowrank/core/error.hpp"
#include "lowrank/core/row_source.hpp"

namespace lowrank {

struct PipelineStats {
  Index blocks = 0, rows = 0;
  double seconds_reading = 0;   // reader thread: reading and converting blocks into the buffers
  double seconds_starved = 0;   // calling thread: waiting for the reader (time the queue had no new block)
};

namespace detail {

// The ring of filled/free host buffers between the reader thread and the caller.
class BlockRing {
 public:
  explicit BlockRing(int slots) : rows_(std::size_t(slots), -1), free_(std::size_t(slots), true) {}

  // Reader: wait until `slot` is free (or the pipeline stops); false when stopping.
  bool acquire(int slot) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return stop_ || free_[std::size_t(slot)]; });
    if (stop_) return false;
    free_[std::size_t(slot)] = false;
    return true;
  }
  // Reader: block `slot` now holds `rows` rows (0: the end of X).
  void publish(int slot, Index rows) {
    { std::lock_guard<std::mutex> lk(m_); rows_[std::size_t(slot)] = rows; }
    cv_.notify_all();
  }
  void fail(std::exception_ptr e) {
    { std::lock_guard<std::mutex> lk(m_); error_ = e; }
    cv_.notify_all();
  }
  // Caller: the rows published in `slot` (0 at the end); rethrows the reader's exception.
  Index take(int slot) {
    std::unique_lock<std::mutex> lk(m_);
    cv_.wait(lk, [&] { return error_ || rows_[std::size_t(slot)] >= 0; });
    if (error_) std::rethrow_exception(error_);
    const Index r = rows_[std::size_t(slot)];
    rows_[std::size_t(slot)] = -1;
    return r;
  }
  // Caller: the upload that read `slot` has completed; the reader may refill it.
  void release(int slot) {
    { std::lock_guard<std::mutex> lk(m_); free_[std::size_t(slot)] = true; }
    cv_.notify_all();
  }
  void stop() {
    { std::lock_guard<std::mutex> lk(m_); stop_ = true; }
    cv_.notify_all();
  }

 private:
  std::mutex m_;
  std::condition_variable cv_;
  std::vector<Index> rows_;  // -1: not yet published
  std::vector<bool> free_;
  bool stop_ = false;
  std::exception_ptr error_;
};

}  // namespace detail

template <class T, class Queue>
PipelineStats run_block_pipeline(RowBlockSource& X, Index block_rows, Queue& q) {
  using clock = std::chrono::steady_clock;
  const int K = q.slots();
  if (K < 1) throw Error("block pipeline: the queue has no host buffers");
  const Index n = X.cols();
  detail::BlockRing ring(K);
  PipelineStats st;
  double reading = 0;

  std::thread reader([&] {
    try {
      BlockReader<T> blocks(X, block_rows);
      Mat<T> block;
      for (Index i = 0;; ++i) {
        const int slot = int(i % K);
        if (!ring.acquire(slot)) return;
        const auto t0 = clock::now();
        const bool more = blocks.next(block);
        if (more) Eigen::Map<Mat<T>>(q.host(slot), block.rows(), n) = block;
        reading += std::chrono::duration<double>(clock::now() - t0).count();
        ring.publish(slot, more ? block.rows() : 0);
        if (!more) return;
      }
    } catch (...) {
      ring.fail(std::current_exception());
    }
  });

  Index submitted = 0, waited = 0;  // uploads [waited, submitted) may still be reading a buffer
  auto wait_through = [&](Index last) {  // wait for uploads up to `last` and free their buffers
    for (; waited <= last; ++waited) {
      q.wait_upload(waited);
      ring.release(int(waited % K));
    }
  };
  try {
    for (Index i = 0;; ++i) {
      const int slot = int(i % K);
      const auto t0 = clock::now();
      const Index rows = ring.take(slot);
      st.seconds_starved += std::chrono::duration<double>(clock::now() - t0).count();
      if (rows == 0) break;
      q.submit(slot, i, rows);
      submitted = i + 1;
      st.rows += rows;
      // Free the buffer the reader fills next (block i + 1 goes where block i + 1 - K was).
      wait_through(i + 1 - K);
    }
    wait_through(submitted - 1);
  } catch (...) {
    ring.stop();
    reader.join();
    // Nothing may still read a host buffer once the caller unwinds and frees them.
    try {
      wait_through(submitted - 1);
    } catch (...) {
    }
    throw;
  }
  ring.stop();
  reader.join();
  st.blocks = submitted;
  st.seconds_reading = reading;
  return st;
}

}  // namespace lowrank
