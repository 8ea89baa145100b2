// An anonymous, zero-filled memory mapping owned by one partition (index + item storage).
// Optionally backed by transparent huge pages to cut TLB misses on random lookups. Pages are
// touched lazily (untouched budget costs no RAM) unless `prefault`: then every page is faulted in
// by the constructor, so that no later write pays a page fault (with huge pages that fault may
// compact memory for milliseconds: a server's first SETs would see timeouts).
// Region::borrowed() wraps memory owned by someone else (a named store segment, store_segment.hpp):
// it is never unmapped by the Region.
#pragma once

#include <cstddef>

namespace buddy::kv::detail {

class Region {
 public:
  Region() = default;
  Region(std::size_t bytes, bool huge_pages, bool prefault = false);  // throws kv::Error
  ~Region();
  Region(Region&& o) noexcept;
  Region& operator=(Region&& o) noexcept;
  Region(const Region&) = delete;
  // prefault: only on memory that is all zero (a freshly made segment).
  static Region borrowed(std::byte* data, std::size_t bytes, bool prefault = false) noexcept {
    Region r;
    r.data_ = data;
    r.size_ = bytes;
    r.owned_ = false;
    if (prefault) r.populate();
    return r;
  }
  Region& operator=(const Region&) = delete;

  std::byte* data() const noexcept { return data_; }
  std::size_t size() const noexcept { return size_; }

 private:
  void populate() noexcept;

  std::byte* data_ = nullptr;
  std::size_t size_ = 0;
  bool owned_ = true;
};

}  // namespace buddy::kv::detail
