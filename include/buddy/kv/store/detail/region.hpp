// An anonymous, zero-filled memory mapping owned by one partition (index + item storage).
// Pages are touched lazily, so untouched budget costs no RAM; optionally backed by transparent
// huge pages to cut TLB misses on random lookups.
#pragma once

#include <cstddef>

namespace buddy::kv::detail {

class Region {
 public:
  Region() = default;
  Region(std::size_t bytes, bool huge_pages);  // throws kv::Error
  ~Region();
  Region(Region&& o) noexcept;
  Region& operator=(Region&& o) noexcept;
  Region(const Region&) = delete;
  Region& operator=(const Region&) = delete;

  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
};

}  // namespace buddy::kv::detail
