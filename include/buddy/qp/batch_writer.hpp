// Batch records on a record ring: one open record that grows. The caller appends pieces (KV
// entries, wire records) into the open record; closing it is one header store, publishing is one
// index store, so a batch of any number of pieces costs one record and one "DMA".
//
// A record is opened at the head with as much contiguous room as the cached consumer index
// allows, up to the record cap the caller chose (msg: 4 KiB chunks; the KV queue pair: the whole
// batch, i.e. the ring's max_record()); a single append larger than the cap gets a record of its
// own. When the open record has no room left, the consumer index is re-read once before giving
// up on it. A record may start with `prefix` bytes that the caller fills when it closes (the KV
// batch header {count, first_seq}): close() and publish() call patch(first byte, appends).
// Nothing is visible to the consumer before publish(). The bytes on the ring are plain qp records
// (docs/protocol.md section 1), read with qp::RecordConsumer.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>

#include "buddy/qp/record_ring.hpp"

namespace buddy::qp {

namespace detail {
[[noreturn]] void throw_append_too_large(std::uint64_t bytes, std::uint64_t max);
[[noreturn]] void throw_open_while_open();
}  // namespace detail

// The patch of a writer without prefix: nothing to fill in.
struct NoPatch {
  void operator()(std::byte*, std::uint32_t) const {}
};

class BatchWriter {
 public:
  BatchWriter() = default;
  // record_cap: payload bytes a record grows to at most (clamped to ring.max_record(); the prefix
  // counts); prefix: bytes reserved at the start of every record for the caller's header.
  BatchWriter(const RecordProducer& ring, std::uint64_t record_cap, std::uint64_t prefix = 0);

  std::uint64_t capacity() const { return ring_.capacity(); }
  // The largest single append: half the ring less the record header and the prefix.
  std::uint64_t max_append() const { return ring_.max_record() - prefix_; }
  // Whether a record is open and how many appends it holds.
  bool is_open() const { return rec_ != nullptr; }
  std::uint32_t appends() const { return count_; }

  // Room for `bytes` more in the open record (re-reading the consumer index if the cached one
  // is too old); never opens a record. nullptr when none is open or it cannot grow that much.
  std::byte* try_append(std::uint64_t bytes) {
    if (used_ + bytes <= room_) [[likely]] {
      return take(bytes);
    }
    return grow_append(bytes);
  }

  // The bulk fast path, for a caller that packs many pieces at once: room_left() bytes may be
  // written at cursor() without re-reading the consumer index (0 and nullptr when no record is
  // open); take_n(bytes, n) then counts them as n appends. Nothing is checked but bytes <=
  // room_left(), which the caller guarantees.
  std::uint64_t room_left() const { return used_ < room_ ? room_ - used_ : 0; }
  std::byte* cursor() const { return rec_ == nullptr ? nullptr : rec_ + used_; }
  void take_n(std::uint64_t bytes, std::uint32_t n) {
    used_ += bytes;
    count_ += n;
  }

  // try_append, else close the open record (patch fills its prefix) and open a new one for
  // `bytes`; nullptr while the ring is too full. Throws Error if bytes > max_append().
  template <class Patch = NoPatch>
  std::byte* append(std::uint64_t bytes, Patch&& patch = {}) {
    if (used_ + bytes <= room_) [[likely]] {
      return take(bytes);
    }
    if (rec_ != nullptr) {  // none is open right after a publish: straight to open()
      if (std::byte* p = grow_append(bytes)) return p;
      close(patch);
    }
    return open(bytes) ? take(bytes) : nullptr;
  }

  // Opens a record with room for at least `bytes` after the prefix (the open one must be closed
  // first); false while the ring is too full. Throws Error if bytes > max_append(). Inline: a
  // batch of 8 small entries opens a record every 8 appends.
  bool open(std::uint64_t bytes) {
    if (count_ != 0) detail::throw_open_while_open();
    if (bytes > max_append()) detail::throw_append_too_large(bytes, max_append());
    const std::uint64_t len = prefix_ + bytes;
    std::byte* p = ring_.open(len);
    if (p == nullptr) return false;
    rec_ = p;
    used_ = prefix_;
    const std::uint64_t to_end = ring_.room_to_end();
    limit_ = std::min(std::max(cap_, len), to_end);
    room_ = std::min(limit_, ring_.room_free());  // >= len: open() checked the room
    return true;
  }

  // Closes the open record: patch(its first byte, appends) fills the prefix, then its header is
  // written (not yet published). Returns its payload bytes, prefix included; 0 when none was open
  // or it held no append (its room is simply left for the next record).
  template <class Patch = NoPatch>
  std::uint64_t close(Patch&& patch = {}) {
    if (count_ == 0) {
      reset();
      return 0;
    }
    patch(rec_, count_);
    const std::uint64_t n = used_;
    ring_.close(n);
    reset();
    return n;
  }

  // Closes the open record and makes everything closed visible: one release store.
  template <class Patch = NoPatch>
  void publish(Patch&& patch = {}) {
    close(patch);
    ring_.publish();
  }

 private:
  std::byte* take(std::uint64_t bytes) {
    std::byte* p = rec_ + used_;
    used_ += bytes;
    ++count_;
    return p;
  }
  std::byte* grow_append(std::uint64_t bytes);
  void reset() {
    rec_ = nullptr;
    used_ = 1;  // > room_: the fast paths fail while no record is open, even for 0 bytes
    room_ = limit_ = 0;
    count_ = 0;
  }

  RecordProducer ring_;
  std::uint64_t cap_ = 0;     // record cap, prefix included
  std::uint64_t prefix_ = 0;  // caller's header bytes at the start of each record
  std::byte* rec_ = nullptr;  // the open record's payload (its prefix first)
  std::uint64_t used_ = 1;    // payload bytes written, prefix included (1 while none is open)
  std::uint64_t room_ = 0;    // payload bytes it may grow to by the cached consumer index
  std::uint64_t limit_ = 0;   // ... and at most (cap, end of the ring)
  std::uint32_t count_ = 0;   // appends in it
};

}  // namespace buddy::qp
