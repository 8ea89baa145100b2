// Batch records of the KV queue pair: a writer that packs entries into one qp record per batch
// (one index store per publish) and a reader that walks them, checking every batch header and
// entry bound (a corrupt ring is a one-line qp::Error, never a read past a batch).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "buddy/kv/queue/format.hpp"
#include "buddy/qp/batch_writer.hpp"
#include "buddy/qp/record_ring.hpp"

namespace buddy::kv::queue {

namespace detail {

[[noreturn]] void throw_kv_corrupt(const char* ring, const char* what, std::uint64_t a,
                                   std::uint64_t b);
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

// Copies n key or value bytes into the ring. Keys and values of up to 16 bytes (the compact
// 8-B/8-B entries) take two overlapping loads and stores inline instead of a call to memcpy,
// whose size is not known at compile time.
inline void copy_bytes(std::byte* d, const char* s, std::size_t n) {
  if (n >= 8 && n <= 16) {
    std::uint64_t a, b;
    std::memcpy(&a, s, 8);
    std::memcpy(&b, s + n - 8, 8);
    std::memcpy(d, &a, 8);
    std::memcpy(d + n - 8, &b, 8);
  } else if (n > 16) {
    std::memcpy(d, s, n);
  } else if (n >= 4) {
    std::uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(d, &a, 4);
    std::memcpy(d + n - 4, &b, 4);
  } else if (n != 0) {
    d[0] = static_cast<std::byte>(s[0]);
    d[n / 2] = static_cast<std::byte>(s[n / 2]);
    d[n - 1] = static_cast<std::byte>(s[n - 1]);
  }
}

// Writes batch records: a qp::BatchWriter whose open record is the batch, up to the ring's largest
// record, with the batch header as its prefix. The ring's shared head moves only on publish():
// one store per batch.
class BatchRecordWriter {
 public:
  BatchRecordWriter() = default;
  explicit BatchRecordWriter(const qp::RecordProducer& ring)
      : w_(ring, ring.max_record(), sizeof(KvBatchHeader)) {}

  std::uint64_t max_entry_bytes() const { return w_.max_append(); }

  // Room for one entry of `bytes` (a multiple of 8) whose sequence number is seq, in the open
  // batch or a new one; nullptr when the ring is too full. Throws qp::Error if bytes >
  // max_entry_bytes().
  std::byte* append(std::uint64_t bytes, std::uint64_t seq) {
    return w_.append(bytes, BatchHeader{seq});
  }

  // Opens a new batch with room for an entry of `bytes` when none is open (right after a
  // publish); true when one is open after the call, false when the ring is too full. Throws
  // qp::Error if bytes > max_entry_bytes().
  bool ensure_open(std::uint64_t bytes) { return w_.is_open() || w_.open(bytes); }

  // The bulk fast path (qp::BatchWriter::room_left): room_left() bytes may be written at
  // cursor() into the open batch; take_n(bytes, n) counts them as n entries.
  std::uint64_t room_left() const { return w_.room_left(); }
  std::byte* cursor() const { return w_.cursor(); }
  void take_n(std::uint64_t bytes, std::uint32_t n) { w_.take_n(bytes, n); }

  // Closes the open batch and makes everything written visible: one release store. next_seq:
  // the sequence number of the next entry (one past the open batch's last).
  void publish(std::uint64_t next_seq) { w_.publish(BatchHeader{next_seq}); }

 private:
  // Fills a closing batch's header; next_seq is one past its last entry.
  struct BatchHeader {
    std::uint64_t next_seq;
    void operator()(std::byte* first, std::uint32_t count) const {
      const KvBatchHeader h{count, static_cast<std::uint32_t>(next_seq - count)};
      std::memcpy(first, &h, sizeof h);
    }
  };

  qp::BatchWriter w_;
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
  // Entries left in the batch of the last peek (>= 1 after a successful peek): a caller may walk
  // up to that many from the peeked pointer, checking each against the bytes left, then take_n.
  std::uint32_t left_in_batch() const { return left_count_; }
  // Consumes the peeked entry of `bytes` (checked against avail by the caller).
  void take(std::uint64_t bytes) { take_n(bytes, 1); }
  // Consumes n entries (n <= left_in_batch()) of `bytes` in all, walked from the peeked pointer.
  void take_n(std::uint64_t bytes, std::uint32_t n) {
    cur_ += bytes;
    left_bytes_ -= bytes;
    left_count_ -= n;
    if (left_count_ == 0) {
      if (left_bytes_ != 0)
        throw_kv_corrupt(ring_, "batch has bytes after its last entry", left_bytes_, 0);
      rc_.pop();
    }
  }
  // The bulk fast path: walks n (<= left_in_batch()) entries from the peeked one with locals.
  // visit(p, avail, i) handles entry i at p, with avail bytes left in the batch, checks it and
  // returns its footprint. The entries are then taken at once and `counter` moves on by n; if
  // visit throws, only the entries before it are taken and counted.
  template <class Visit>
  void walk(std::uint64_t n, std::uint64_t& counter, Visit&& visit) {
    const std::byte* p = cur_;
    std::uint64_t avail = left_bytes_;
    std::uint64_t k = 0;
    try {
      for (; k < n; ++k) {
        const std::uint64_t bytes = visit(p, avail, k);
        p += bytes;
        avail -= bytes;
      }
    } catch (...) {
      if (k != 0) take_n(static_cast<std::uint64_t>(p - cur_), static_cast<std::uint32_t>(k));
      counter += k;
      throw;
    }
    if (n != 0) take_n(static_cast<std::uint64_t>(p - cur_), static_cast<std::uint32_t>(n));
    counter += n;
  }
  // Releases every record consumed so far to the producer.
  void publish() { rc_.publish(); }

 private:
  // Opens the next published record as the batch, its header checked; false when none is
  // published. Inline (one call per batch), the errors out of line.
  bool next_record(std::uint64_t expected_seq) {
    const auto rec = rc_.front();
    if (!rec) return false;
    const std::uint64_t size = rec->size();
    if (size < sizeof(KvBatchHeader)) throw_bad_batch(size, 0, expected_seq);
    KvBatchHeader bh;
    std::memcpy(&bh, rec->data(), sizeof bh);
    const std::uint64_t body = size - sizeof bh;
    if (bh.count == 0 || std::uint64_t{bh.count} * 8 > body ||
        bh.first_seq != static_cast<std::uint32_t>(expected_seq)) [[unlikely]] {
      throw_bad_batch(size, bh.count | std::uint64_t{bh.first_seq} << 32, expected_seq);
    }
    cur_ = rec->data() + sizeof bh;
    left_bytes_ = body;
    left_count_ = bh.count;
    return true;
  }
  // The one-line error for a batch record of `size` bytes whose header (count in the low 32
  // bits, first_seq in the high; 0 if too short to hold one) does not fit or is out of sequence.
  [[noreturn]] void throw_bad_batch(std::uint64_t size, std::uint64_t header,
                                    std::uint64_t expected_seq) const;

  qp::RecordConsumer rc_;
  const char* ring_ = "";
  const std::byte* cur_ = nullptr;
  std::uint64_t left_bytes_ = 0;
  std::uint32_t left_count_ = 0;
};

}  // namespace detail

}  // namespace buddy::kv::queue
