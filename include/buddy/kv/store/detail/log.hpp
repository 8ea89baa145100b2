// Cache-mode item storage: MICA's circular log. Items are appended at the tail; when the log is
// full the oldest bytes are reused and the live items there are evicted. Offsets are logical
// (8-byte units, modulo 2^32); an index slot is valid only while its item lies in [head, tail),
// which is how a GET tells an evicted item from a live one. The partition sweeps every index
// bucket once per lap of the log, so a stale slot never survives long enough for its 32-bit
// offset to alias a newer item (log <= 16 GiB).
#pragma once

#include <cstddef>
#include <cstdint>

#include "buddy/kv/store/detail/item.hpp"

namespace buddy::kv::detail {

class CircularLog {
 public:
  struct Evicted {
    std::uint64_t items = 0;
    std::uint64_t bytes = 0;  // key + value bytes
  };

  void reset(std::byte* base, std::size_t bytes) noexcept {
    base_ = base;
    units_ = static_cast<std::uint32_t>(bytes / item::kUnitBytes);
    head_ = tail_ = 0;
    head_phys_ = tail_phys_ = 0;
  }

  std::uint32_t capacity_units() const noexcept { return units_; }
  bool fits(std::uint32_t units) const noexcept { return std::uint64_t{units} * 2 <= units_; }
  std::uint64_t appended_units() const noexcept { return tail_; }

  bool valid(std::uint32_t off) const noexcept {
    const auto head = static_cast<std::uint32_t>(head_);
    const auto tail = static_cast<std::uint32_t>(tail_);
    return static_cast<std::uint32_t>(off - head) < static_cast<std::uint32_t>(tail - head);
  }

  // Address of a valid offset.
  std::byte* at(std::uint32_t off) const noexcept {
    const std::uint32_t dist = static_cast<std::uint32_t>(tail_) - off;
    std::int64_t phys = static_cast<std::int64_t>(tail_phys_) - dist;
    if (phys < 0) phys += units_;
    return base_ + static_cast<std::size_t>(phys) * item::kUnitBytes;
  }

  // Reserves `units` (fits() must hold) at the tail, reusing the oldest space; live items that
  // are overwritten are added to `ev`. Returns the new item's offset; write it before the next
  // append.
  std::uint32_t append(std::uint32_t units, Evicted& ev) noexcept {
    if (tail_phys_ + units > units_) {  // does not fit before the end: pad to the start
      const std::uint32_t pad = units_ - tail_phys_;
      make_room(pad, ev);
      item::set_header(base_ + std::size_t{tail_phys_} * item::kUnitBytes, pad << 8);
      tail_ += pad;
      tail_phys_ = 0;
    }
    make_room(units, ev);
    const auto off = static_cast<std::uint32_t>(tail_);
    tail_ += units;
    tail_phys_ += units;
    if (tail_phys_ == units_) tail_phys_ = 0;
    return off;
  }

 private:
  void make_room(std::uint32_t units, Evicted& ev) noexcept {
    while (tail_ + units - head_ > units_) {
      const std::uint32_t h = item::header(base_ + std::size_t{head_phys_} * item::kUnitBytes);
      if (!item::is_pad(h) && item::live(h)) {
        ++ev.items;
        ev.bytes += item::key_len(h) + item::value_len(h);
      }
      const std::uint32_t n = item::units_of(h);
      head_ += n;
      head_phys_ += n;
      if (head_phys_ >= units_) head_phys_ -= units_;
    }
  }

  std::byte* base_ = nullptr;
  std::uint32_t units_ = 0;
  std::uint64_t head_ = 0, tail_ = 0;  // logical, units
  std::uint32_t head_phys_ = 0, tail_phys_ = 0;
};

}  // namespace buddy::kv::detail
