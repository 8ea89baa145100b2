// Records passed between two threads of one engine (buddy-engine --threads N): one producer
// thread appends wire records (dest = destination id, length, payload, as in an MPI buffer) to
// an open batch; flush() hands full or open batches over through a lock-free single-producer
// single-consumer queue of batch pointers; the consumer thread takes them, reads them in place
// and gives each back through a second SPSC queue, so batches are reused instead of allocated.
// The producer never waits: when the queue is full, batches wait in its own memory (in order)
// until a later flush() finds room, exactly like a delivery's holdback. Records keep the order
// in which they were appended.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <new>
#include <vector>

#include "buddy/msg/transport/wire.hpp"

namespace buddy::msg_engine::detail {

// A bounded lock-free queue of pointers between exactly one producer and one consumer thread.
template <class T>
class spsc_queue {
 public:
  explicit spsc_queue(std::size_t slots) {
    std::size_t cap = 2;
    while (cap < slots) cap *= 2;
    slots_.assign(cap, nullptr);
    mask_ = cap - 1;
  }
  ~spsc_queue() {
    while (T* p = pop()) delete p;
  }
  spsc_queue(const spsc_queue&) = delete;
  spsc_queue& operator=(const spsc_queue&) = delete;

  // Producer: false if full.
  bool push(T* p) {
    const std::size_t h = head_.load(std::memory_order_relaxed);
    if (h - tail_.load(std::memory_order_acquire) == slots_.size()) return false;
    slots_[h & mask_] = p;
    head_.store(h + 1, std::memory_order_release);
    return true;
  }
  // Consumer: nullptr if empty.
  T* pop() {
    const std::size_t t = tail_.load(std::memory_order_relaxed);
    if (t == head_.load(std::memory_order_acquire)) return nullptr;
    T* p = slots_[t & mask_];
    tail_.store(t + 1, std::memory_order_release);
    return p;
  }
  bool empty() const {
    return head_.load(std::memory_order_acquire) == tail_.load(std::memory_order_acquire);
  }

 private:
  std::vector<T*> slots_;
  std::size_t mask_ = 0;
  alignas(64) std::atomic<std::size_t> head_{0};  // written by the producer
  alignas(64) std::atomic<std::size_t> tail_{0};  // written by the consumer
};

class handoff {
 public:
  using batch = std::vector<std::byte>;  // wire records back to back

  explicit handoff(std::size_t batch_bytes = 32 * 1024, std::size_t slots = 256)
      : batch_bytes_(batch_bytes), full_(slots), free_(slots) {}
  ~handoff() {
    delete open_;
    for (batch* b : waiting_) delete b;
  }
  handoff(const handoff&) = delete;
  handoff& operator=(const handoff&) = delete;

  // Producer: appends one record (never waits).
  void append(std::uint32_t dest, std::uint32_t length, const std::byte* payload) {
    if (open_ == nullptr) {
      open_ = free_.pop();
      if (open_ == nullptr) {
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
    while (!waiting_.empty() && full_.push(waiting_.front())) {
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
  batch* take() { return full_.pop(); }
  void give_back(batch* b) {
    b->clear();
    if (b->capacity() > 4 * batch_bytes_ || !free_.push(b)) delete b;
  }

 private:
  std::size_t batch_bytes_;
  // Producer's.
  batch* open_ = nullptr;
  std::deque<batch*> waiting_;
  std::size_t max_waiting_ = 0;
  std::uint64_t records_ = 0;
  // Shared.
  spsc_queue<batch> full_;  // producer -> consumer
  spsc_queue<batch> free_;  // consumer -> producer (emptied batches)
};

}  // namespace buddy::msg_engine::detail
