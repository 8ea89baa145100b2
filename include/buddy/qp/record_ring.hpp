// SPSC ring of variable-length records over a RingHeader in shared memory (the messaging rings:
// `(dest, bytes)` records of any size).
//
// Layout of one record: [u32 len][u32 zero][payload][pad to 8 bytes]. A record never straddles
// the end of the ring: when it does not fit before the end, the producer writes a wrap marker
// (len = 0xFFFFFFFF) and starts at offset 0. With that rule every record of at most
// capacity/2 - 8 bytes always fits once the consumer catches up; larger ones are rejected with an
// Error. As in FixedProducer, writes are published once per batch. RecordProducer writes one
// record per reserve/commit; qp::BatchWriter (batch_writer.hpp) grows one open record over many
// appends through RecordProducer's open/close, the only code that writes headers and markers.
#pragma once

#include <cstring>
#include <optional>
#include <span>

#include "buddy/qp/detail/ring_index.hpp"
#include "buddy/qp/error.hpp"
#include "buddy/qp/ring_header.hpp"

namespace buddy::qp {

// Tag type: Segment::producer<Record>() and friends give the record-ring classes.
struct Record {};

inline constexpr std::uint32_t kRecordHeaderBytes = 8;
inline constexpr std::uint32_t kWrapMarker = 0xFFFFFFFFu;

inline constexpr std::uint64_t record_footprint(std::uint64_t len) {
  return kRecordHeaderBytes + round_up(len, 8);
}
inline constexpr std::uint64_t max_record_bytes(std::uint64_t ring_bytes) {
  return ring_bytes / 2 - kRecordHeaderBytes;
}

namespace detail {
[[noreturn]] void throw_record_too_large(std::uint64_t len, std::uint64_t max);
[[noreturn]] void throw_corrupt_record(std::uint64_t pos, std::uint64_t len, std::uint64_t avail);
[[noreturn]] void throw_no_reservation();
}  // namespace detail

class BatchWriter;

class alignas(kCacheLine) RecordProducer {
 public:
  RecordProducer() = default;
  RecordProducer(RingHeader* h, std::byte* data) : ix_(h), data_(data) {}

  std::uint64_t capacity() const { return ix_.cap; }
  std::uint64_t max_record() const { return max_record_bytes(ix_.cap); }

  // Room for a record of len payload bytes: a pointer to write them to, or nullptr while the ring
  // is too full. Throws Error if len > max_record(). Finish with commit().
  std::byte* reserve(std::uint64_t len) {
    if (len > max_record()) detail::throw_record_too_large(len, max_record());
    std::byte* p = open(len);
    if (p == nullptr) return nullptr;
    reserved_ = len;
    has_reservation_ = true;
    return p;
  }

  // Completes the reserved record with its final length (at most the reserved length); it
  // becomes visible on publish().
  void commit(std::uint64_t len) {
    if (!has_reservation_) detail::throw_no_reservation();
    if (len > reserved_) detail::throw_record_too_large(len, reserved_);
    close(len);
    reserved_ = 0;
    has_reservation_ = false;
  }

  void publish() { ix_.publish(); }

  // reserve + copy + commit, without publishing (for batches).
  bool try_append(const void* payload, std::uint64_t len) {
    std::byte* p = reserve(len);
    if (p == nullptr) return false;
    if (len != 0) std::memcpy(p, payload, len);
    commit(len);
    return true;
  }

  bool try_push(const void* payload, std::uint64_t len) {
    if (!try_append(payload, len)) return false;
    publish();
    return true;
  }
  bool try_push(std::span<const std::byte> rec) { return try_push(rec.data(), rec.size()); }

 private:
  friend class BatchWriter;

  // The two places that write the record format. open() places a record of at least len
  // (<= max_record()) payload bytes at the head, first writing a wrap marker when it does not fit
  // before the end of the ring, and returns its payload, or nullptr while the ring is too full.
  // close() writes the header of the record at the head with its final length and moves past it.
  std::byte* open(std::uint64_t len) {
    const std::uint64_t need = record_footprint(len);
    std::uint64_t idx = ix_.head & ix_.mask;
    const std::uint64_t to_end = ix_.cap - idx;
    const std::uint64_t total = to_end < need ? to_end + need : need;
    if (ix_.free_for(total) < total) return nullptr;
    if (to_end < need) {
      const std::uint32_t marker = kWrapMarker;
      std::memcpy(data_ + idx, &marker, sizeof marker);
      ix_.head += to_end;
      idx = 0;
    }
    return data_ + idx + kRecordHeaderBytes;
  }
  void close(std::uint64_t len) {
    const std::uint32_t hdr[2] = {static_cast<std::uint32_t>(len), 0};
    std::memcpy(data_ + (ix_.head & ix_.mask), hdr, sizeof hdr);
    ix_.head += record_footprint(len);
  }
  // Payload bytes the record at the head may take: before the end of the ring, and in front of
  // the consumer by its cached index (refresh() re-reads it). Valid after a successful open().
  std::uint64_t room_to_end() const { return ix_.cap - (ix_.head & ix_.mask) - kRecordHeaderBytes; }
  std::uint64_t room_free() const {
    return ix_.cap - (ix_.head - ix_.cached_tail) - kRecordHeaderBytes;
  }
  void refresh() { ix_.refresh(); }

  detail::ProducerIndex ix_;
  std::byte* data_ = nullptr;
  std::uint64_t reserved_ = 0;
  bool has_reservation_ = false;
};

class alignas(kCacheLine) RecordConsumer {
 public:
  RecordConsumer() = default;
  RecordConsumer(RingHeader* h, const std::byte* data) : ix_(h), data_(data) {}

  std::uint64_t capacity() const { return ix_.cap; }

  // The next published record's payload (valid until pop()), or nullopt when there is none.
  // Throws Error if the ring holds something that is not a well-formed record.
  std::optional<std::span<const std::byte>> front() {
    for (;;) {
      const std::uint64_t avail = ix_.available_for(1);
      if (avail == 0) return std::nullopt;
      const std::uint64_t idx = ix_.tail & ix_.mask;
      const std::uint64_t to_end = ix_.cap - idx;
      std::uint32_t len;
      std::memcpy(&len, data_ + idx, sizeof len);
      if (len == kWrapMarker) {
        if (to_end > avail) detail::throw_corrupt_record(ix_.tail, len, avail);
        ix_.tail += to_end;
        continue;
      }
      const std::uint64_t footprint = record_footprint(len);
      if (len > max_record_bytes(ix_.cap) || footprint > avail || footprint > to_end) {
        detail::throw_corrupt_record(ix_.tail, len, avail);
      }
      current_ = footprint;
      return std::span<const std::byte>(data_ + idx + kRecordHeaderBytes, len);
    }
  }

  // Consumes the record returned by the last front(); visible to the producer after publish().
  void pop() {
    ix_.tail += current_;
    current_ = 0;
  }

  void publish() { ix_.publish(); }

  // Calls f(std::span<const std::byte>) on up to max records in place, publishes once.
  template <class F>
  std::size_t consume(std::size_t max, F&& f) {
    std::size_t done = 0;
    while (done < max) {
      auto rec = front();
      if (!rec) break;
      f(*rec);
      pop();
      ++done;
    }
    publish();
    return done;
  }

 private:
  detail::ConsumerIndex ix_;
  const std::byte* data_ = nullptr;
  std::uint64_t current_ = 0;
};

}  // namespace buddy::qp
