// Records passed between two threads of one engine (buddy-engine --threads N): one producer
// thread appends wire records (dest = destination id, length, payload, as in an MPI buffer) to
// an open batch; flush() hands full or open batches over through a lock-free single-producer
// single-consumer ring of batch pointers (a qp::LocalRing); the consumer thread takes them, reads
// them in place and gives each back through a second ring, so batches are reused instead of
// allocated.
// The producer never waits: when the queue is full, batches wait in its own memory (in order)
// until a later flush() finds room, exactly like a delivery's holdback. Records keep the order
// in which they were appended.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <vector>

#include "buddy/msg/transport/wire.hpp"
#include "buddy/qp/local_ring.hpp"

namespace buddy::msg_engine::detail {

class handoff {
 public:
  using batch = std::vector<std::byte>;  // wire records back to back

  explicit handoff(std::size_t batch_bytes = 32 * 1024, std::size_t slots = 256)
      : batch_bytes_(batch_bytes), full_(slots), free_(slots) {}
  ~handoff() {
    delete open_;
    for (batch* b : waiting_) delete b;
    batch* b = nullptr;
    while (full_.consumer().try_pop(b)) delete b;
    while (free_.consumer().try_pop(b)) delete b;
  }
  handoff(const handoff&) = delete;
  handoff& operator=(const handoff&) = delete;

  // Producer: appends one record (never waits).
  void append(std::uint32_t dest, std::uint32_t length, const std::byte* payload) {
    if (open_ == nullptr) {
      if (!free_.consumer().try_pop(open_)) {
        open_ = new batch;
        open_->reserve(batch_bytes_);
      }
    }
    const std::size_t at = open_->size();
    open_->resize(at + msg::wire::header_bytes + length);
    msg::wire::write_header(open_->data() + at, dest, length);
    if (length != 0) std::memcpy(open_->data() + at + msg::wire::header_bytes, payload, length);
    ++records_;
    if (open_->size() >= batch_bytes_) {
      waiting_.push_back(open_);
      open_ = nullptr;
    }
  }
  // Producer: hands the open batch and every waiting one to the consumer while the queue has
  // room; true if it handed over anything.
  bool flush() {
    if (open_ != nullptr && !open_->empty()) {
      waiting_.push_back(open_);
      open_ = nullptr;
    }
    bool any = false;
    while (!waiting_.empty() && full_.producer().try_push(waiting_.front())) {
      waiting_.pop_front();
      any = true;
    }
    if (waiting_.size() > max_waiting_) max_waiting_ = waiting_.size();
    return any;
  }
  // Producer: batches kept back because the queue was full.
  std::size_t waiting() const { return waiting_.size(); }
  std::size_t max_waiting() const { return max_waiting_; }
  std::uint64_t records() const { return records_; }

  // Consumer: the oldest batch handed over, or nullptr; give it back when done.
  batch* take() {
    batch* b = nullptr;
    return full_.consumer().try_pop(b) ? b : nullptr;
  }
  void give_back(batch* b) {
    b->clear();
    if (b->capacity() > 4 * batch_bytes_ || !free_.producer().try_push(b)) delete b;
  }

 private:
  std::size_t batch_bytes_;
  // Producer's.
  batch* open_ = nullptr;
  std::deque<batch*> waiting_;
  std::size_t max_waiting_ = 0;
  std::uint64_t records_ = 0;
  // Shared.
  qp::LocalRing<batch*> full_;  // producer -> consumer
  qp::LocalRing<batch*> free_;  // consumer -> producer (emptied batches)
};

}  // namespace buddy::msg_engine::detail
