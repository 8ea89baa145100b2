// Batch records of the KV queue pair: a writer that packs entries into one qp record per batch
// (one index store per publish) and a reader that walks them, checking every batch header and
// entry bound (a corrupt ring is a one-line qp::Error, never a read past a batch).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "buddy/kv/queue/format.hpp"
#include "buddy/qp/detail/ring_index.hpp"
#include "buddy/qp/record_ring.hpp"

namespace buddy::kv::queue {

namespace detail {

[[noreturn]] void throw_kv_corrupt(const char* ring, const char* what, std::uint64_t a,
                                   std::uint64_t b);
[[noreturn]] void throw_kv_entry_too_large(std::uint64_t bytes, std::uint64_t max);
[[noreturn]] void throw_kv_usage(const char* what);

// Reads the entry header at p, with `avail` bytes left in its batch, and checks that the whole
// entry (footprint(header) bytes) lies inside the batch; `bytes` gets the entry's footprint.
template <class Entry, class Footprint>
Entry read_entry(const std::byte* p, std::uint64_t avail, const char* ring, Footprint footprint,
                 std::uint64_t& bytes) {
  Entry h;
  if (avail < sizeof h) throw_kv_corrupt(ring, "entry header past its batch", avail, 0);
  std::memcpy(&h, p, sizeof h);
  bytes = footprint(h);
  if (bytes > avail) throw_kv_corrupt(ring, "entry past its batch", bytes, avail);
  return h;
}

// Writes batch records in the qp record-ring format (readable by qp::RecordConsumer): entries are
// appended to an open record as long as they fit in front of the consumer and before the end of
// the ring; a record is closed (its headers written) when the next entry does not fit or on
// publish(). The ring's shared head moves only on publish(): one store per batch.
class BatchRecordWriter {
 public:
  BatchRecordWriter() = default;
  BatchRecordWriter(qp::RingHeader* h, std::byte* data)
      : ix_(h), data_(data), max_payload_(qp::max_record_bytes(h->capacity)) {}

  std::uint64_t max_entry_bytes() const { return max_payload_ - sizeof(KvBatchHeader); }

  // Room for one entry of `bytes` (a multiple of 8) in the open record, opening a record (whose
  // first entry has sequence number seq) if needed; nullptr when the ring is too full. Throws if
  // bytes > max_entry_bytes().
  std::byte* append(std::uint64_t bytes, std::uint64_t seq) {
    if (open_ && used_ + bytes <= room_) {
      std::byte* p = data_ + rec_idx_ + qp::kRecordHeaderBytes + used_;
      used_ += bytes;
      ++count_;
      return p;
    }
    return append_slow(bytes, seq);
  }

  // Closes the open record and makes everything written visible: one release store.
  void publish() {
    close();
    ix_.publish();
  }

 private:
  std::byte* append_slow(std::uint64_t bytes, std::uint64_t seq);
  // Payload bytes the open record may grow to, from what the cached consumer index allows.
  std::uint64_t room_now() const {
    const std::uint64_t contiguous = ix_.cap - rec_idx_;
    const std::uint64_t free = ix_.cap - (ix_.head - ix_.cached_tail);
    const std::uint64_t r = std::min(contiguous, free) - qp::kRecordHeaderBytes;
    return std::min(r, max_payload_);
  }
  void close() {
    if (!open_) return;
    const KvBatchHeader bh{count_, seq_};
    std::memcpy(data_ + rec_idx_ + qp::kRecordHeaderBytes, &bh, sizeof bh);
    const std::uint32_t rh[2] = {static_cast<std::uint32_t>(used_), 0};
    std::memcpy(data_ + rec_idx_, rh, sizeof rh);
    ix_.head += qp::kRecordHeaderBytes + used_;
    open_ = false;
  }

  qp::detail::ProducerIndex ix_;
  std::byte* data_ = nullptr;
  std::uint64_t max_payload_ = 0;
  bool open_ = false;
  std::uint64_t rec_idx_ = 0;  // byte offset of the open record's header (= head & mask)
  std::uint64_t used_ = 0;     // payload bytes of the open record, batch header included
  std::uint64_t room_ = 0;     // payload bytes it may grow to
  std::uint32_t count_ = 0;
  std::uint32_t seq_ = 0;
};

// Reads the entries of batch records one by one, checking each batch header against the
// sequence number the reader expects.
class BatchRecordReader {
 public:
  BatchRecordReader() = default;
  BatchRecordReader(qp::RingHeader* h, const std::byte* data, const char* ring)
      : rc_(h, data), ring_(ring) {}

  // The next entry's first byte, with the bytes left in its batch in `avail`; nullptr when
  // nothing is published. expected_seq: the sequence number of that entry.
  const std::byte* peek(std::uint64_t expected_seq, std::uint64_t& avail) {
    if (left_count_ == 0 && !next_record(expected_seq)) return nullptr;
    avail = left_bytes_;
    return cur_;
  }
  // Consumes the peeked entry of `bytes` (checked against avail by the caller).
  void take(std::uint64_t bytes) {
    cur_ += bytes;
    left_bytes_ -= bytes;
    if (--left_count_ == 0) {
      if (left_bytes_ != 0)
        throw_kv_corrupt(ring_, "batch has bytes after its last entry", left_bytes_, 0);
      rc_.pop();
    }
  }
  // Releases every record consumed so far to the producer.
  void publish() { rc_.publish(); }

 private:
  bool next_record(std::uint64_t expected_seq);

  qp::RecordConsumer rc_;
  const char* ring_ = "";
  const std::byte* cur_ = nullptr;
  std::uint64_t left_bytes_ = 0;
  std::uint32_t left_count_ = 0;
};

}  // namespace detail

}  // namespace buddy::kv::queue
