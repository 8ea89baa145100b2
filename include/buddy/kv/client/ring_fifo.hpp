// A FIFO of trivially copyable entries in a power-of-two ring that doubles when full: push_back,
// front and pop_front are a mask and an index (no per-block bookkeeping as in std::deque), and
// once the ring has grown to the most entries ever queued at once, nothing is allocated again.
// The client keeps its retransmission deadlines in these (client.hpp).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <type_traits>

namespace buddy::kv {

template <class T>
class RingFifo {
  static_assert(std::is_trivially_copyable_v<T>);

 public:
  bool empty() const noexcept { return head_ == tail_; }
  std::size_t size() const noexcept { return static_cast<std::size_t>(tail_ - head_); }
  const T& front() const noexcept { return buf_[head_ & mask_]; }
  void pop_front() noexcept { ++head_; }
  // The i-th entry from the back (0: the last pushed); i < size().
  T& from_back(std::size_t i) noexcept { return buf_[(tail_ - 1 - i) & mask_]; }
  void push_back(const T& v) {
    if (tail_ - head_ == cap_) grow();
    buf_[tail_++ & mask_] = v;
  }
  void clear() noexcept { head_ = tail_ = 0; }

 private:
  void grow() {
    const std::uint64_t cap = cap_ == 0 ? 64 : cap_ * 2;
    auto next = std::make_unique_for_overwrite<T[]>(cap);
    for (std::uint64_t i = head_; i != tail_; ++i) next[i - head_] = buf_[i & mask_];
    tail_ -= head_;
    head_ = 0;
    buf_ = std::move(next);
    cap_ = cap;
    mask_ = cap - 1;
  }

  std::unique_ptr<T[]> buf_;
  std::uint64_t cap_ = 0, mask_ = 0;
  std::uint64_t head_ = 0, tail_ = 0;  // entries head_..tail_-1, indices taken modulo cap_
};

}  // namespace buddy::kv
