// Byte buffers that carry aggregated records, and a pool that recycles them. No MPI here.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

namespace buddy::msg {

struct buffer {
  std::unique_ptr<std::byte[]> data;
  std::size_t size = 0;      // bytes used
  std::size_t capacity = 0;  // bytes allocated

  bool empty() const { return size == 0; }
};

// Hands out buffers of one fixed capacity; buffers of any other capacity (a single large
// record) are simply freed when given back.
class buffer_pool {
 public:
  explicit buffer_pool(std::size_t capacity) : capacity_(capacity) {}

  std::size_t capacity() const { return capacity_; }

  buffer get() {
    if (!free_.empty()) {
      buffer b = std::move(free_.back());
      free_.pop_back();
      b.size = 0;
      return b;
    }
    buffer b;
    b.data = std::make_unique_for_overwrite<std::byte[]>(capacity_);
    b.capacity = capacity_;
    return b;
  }
  static buffer make(std::size_t capacity) {
    buffer b;
    b.data = std::make_unique_for_overwrite<std::byte[]>(capacity);
    b.capacity = capacity;
    return b;
  }
  void put(buffer&& b) {
    if (b.capacity == capacity_ && b.data) free_.push_back(std::move(b));
  }
  std::size_t idle() const { return free_.size(); }

 private:
  std::size_t capacity_;
  std::vector<buffer> free_;
};

}  // namespace buddy::msg
