// The KV queue pair between a communication engine (CE) and a processing engine (PE), possibly in
// two processes (later: a DPU and its host), over buddy::qp rings in a named segment. Layout byte
// for byte: docs/protocol.md, section 3.
//
// Per CE <-> PE pair: a request ring (CE -> PE) and a response ring (PE -> CE). The PE receives
// only what it needs: opcode, key hash, key, value (SET), sizes; it answers a status and, for GET,
// the value. Request ids, timestamps and peers stay with the CE, which numbers its requests 0, 1,
// 2, ... per pair (the "sequence number"): responses come back in exactly that order, so the CE
// finds a request's context at `seq % its context array size`.
//
// Entries are variable-size and packed into ONE qp record per batch, key and value inline
// (8-B key, 8-B value: a 32-B request, a 16-B response); docs/protocol.md section 3 gives the
// layout and why (one contiguous transfer per batch, no out-of-line area). consume() hands out
// kv::Request views straight into the ring (zero copy), released when the PE publishes.
//
// Usage (one CE end and one PE end per pair, each used by one thread at a time):
//   auto q = KvQueue::create("kv", KvQueueLayout{.queue_pairs = 2});   // or KvQueue::attach("kv")
//   KvCeEnd ce = q.ce(0);                  KvPeEnd pe = q.pe(0);
//   n = ce.push(reqs); ce.publish();       auto reqs = pe.consume(256);
//   ce.poll(256, [](const KvResponse& r){  part.execute(reqs, [&](size_t, kv::Status s,
//     ... r.seq, r.status, r.value });                          string_view v) { pe.respond(s, v);
//     });
//                                          pe.publish();
// A PE that has a batch's answers at hand (results in an array) gives them in one call,
// pe.respond_n(n, [&](size_t i) { return KvAnswer{st[i], v[i]}; }): the same bytes as n
// respond() calls, written into the open batch with one reservation.
// Back-pressure, never loss: push() takes fewer requests than offered when the request ring is
// full; a response that does not fit the response ring waits in a PE-local spill buffer (the value
// is copied at once, as Partition::execute's callback contract requires) and consume() hands out
// no new requests until publish()/flush() has moved the spilled responses into the ring. A CE that
// cannot push must therefore poll, and a PE that gets nothing must publish/flush, to progress.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/kv/queue/detail/batch.hpp"
#include "buddy/kv/queue/format.hpp"
#include "buddy/kv/store/partition.hpp"
#include "buddy/kv/wire/format.hpp"
#include "buddy/qp/doorbell.hpp"
#include "buddy/qp/segment.hpp"

namespace buddy::kv::queue {

// ---- The CE end ----------------------------------------------------------------------------

// One response, in request order. value points into the response ring: valid until poll returns.
struct KvResponse {
  std::uint64_t seq = 0;  // the request's sequence number on this pair
  wire::Status status = wire::Status::ok;
  std::string_view value;
};

class KvCeEnd {
 public:
  KvCeEnd() = default;
  KvCeEnd(qp::RingHeader* req, std::byte* req_data, qp::RingHeader* resp,
          const std::byte* resp_data)
      : w_(qp::RecordProducer(req, req_data)), r_(resp, resp_data, "response") {}

  // Appends requests to the current batch in order and returns how many it took: fewer than
  // offered when the request ring is full (back-pressure; poll and retry). Request i gets sequence
  // number pushed() (before the call) + i. Invisible to the PE until publish(). Throws
  // std::invalid_argument for a key over 255 bytes and qp::Error for an entry larger than the ring
  // can ever carry (see KvQueueLayout::max_set_value); the CE answers those itself.
  std::size_t push(std::span<const kv::Request> reqs) {
    std::size_t i = 0;
    while (i < reqs.size()) {
      // Right after a publish no batch is open: open one for the first request here, so that
      // every request of the call takes the fast path.
      const kv::Request& q = reqs[i];
      if (q.key.size() > kv::kMaxKeyBytes) detail::throw_kv_usage(kLongKey);
      if (!w_.ensure_open(footprint(q))) break;
      i += push_in_batch(reqs.subspan(i));
      if (i == reqs.size() || !try_push(reqs[i])) break;  // a new batch, or the ring is full
      ++i;
    }
    return i;
  }
  bool try_push(const kv::Request& q) {
    if (q.key.size() > kv::kMaxKeyBytes) detail::throw_kv_usage(kLongKey);
    const std::uint64_t bytes = footprint(q);
    std::byte* p = w_.append(bytes, pushed_);
    if (p == nullptr) return false;
    write_request(p, q, bytes);
    ++pushed_;
    return true;
  }

  // Makes the pushed requests visible to the PE: one index store.
  void publish() { w_.publish(pushed_); }

  // Calls f(const KvResponse&) for up to max published responses, in request order, and releases
  // them to the PE once at the end; returns how many.
  template <class F>
  std::size_t poll(std::size_t max, F&& f) {
    std::size_t done = 0;
    while (done < max) {
      std::uint64_t batch_bytes = 0;  // the next batch is opened, its header checked
      if (r_.peek(responded_, batch_bytes) == nullptr) break;
      // The rest of this batch, walked with locals; the reader is told once (or, if f or a check
      // throws, how far the walk got).
      const std::uint64_t n = std::min<std::uint64_t>(r_.left_in_batch(), max - done);
      const std::uint64_t ok = std::min(n, pushed_ - responded_);
      const std::uint64_t seq0 = responded_;
      r_.walk(ok, responded_, [&](const std::byte* p, std::uint64_t avail, std::uint64_t k) {
        std::uint64_t bytes = 0;
        const auto h = detail::read_entry<KvResponseEntry>(
            p, avail, "response",
            [](const KvResponseEntry& e) { return kv_response_footprint(e.value_len); }, bytes);
        f(KvResponse{seq0 + k, static_cast<wire::Status>(h.status),
                     std::string_view(reinterpret_cast<const char*>(p + sizeof h), h.value_len)});
        return bytes;
      });
      done += ok;
      if (ok < n) {
        detail::throw_kv_corrupt("response", "more responses than requests", responded_ + 1,
                                 pushed_);
      }
    }
    r_.publish();
    return done;
  }

  std::uint64_t pushed() const { return pushed_; }        // requests pushed (= next seq)
  std::uint64_t responded() const { return responded_; }  // responses polled
  std::uint64_t in_flight() const { return pushed_ - responded_; }
  // The largest SET value this pair carries with a key of key_len bytes.
  std::uint64_t max_set_value(std::uint64_t key_len) const {
    return w_.max_entry_bytes() - sizeof(KvRequestEntry) - sizeof(KvSeqTag) - key_len;
  }

 private:
  static constexpr const char* kLongKey = "push: key longer than 255 bytes";
  static bool sequenced(const kv::Request& q) { return q.client != 0 && q.op != Op::get; }
  static std::string_view value_of(const kv::Request& q) {
    return q.op == Op::set ? q.value : std::string_view{};
  }
  static std::uint64_t footprint(const kv::Request& q) {
    return kv_request_footprint(q.key.size(), value_of(q).size(), sequenced(q));
  }
  static_assert(offsetof(KvRequestEntry, key_len) == 1 && offsetof(KvRequestEntry, flags) == 2 &&
                offsetof(KvRequestEntry, value_len) == 4 &&
                offsetof(KvRequestEntry, key_hash) == 8);
  // Writes request q as an entry of `bytes` (its footprint) at p.
  static void write_request(std::byte* p, const kv::Request& q, std::uint64_t bytes) {
    const std::string_view value = value_of(q);
    const bool seq = sequenced(q);
    std::memset(p + bytes - 8, 0, 8);  // the padding (the header overwrites it if there is none)
    // The KvRequestEntry as two little-endian words (wire/format.hpp asserts little-endian):
    // op, key_len, flags, value_len; then key_hash.
    const std::uint64_t w0 =
        (std::uint64_t{static_cast<std::uint8_t>(q.op)} + 1) | std::uint64_t{q.key.size()} << 8 |
        std::uint64_t{seq ? kSequenced : 0u} << 16 | std::uint64_t{value.size()} << 32;
    std::memcpy(p, &w0, 8);
    std::memcpy(p + 8, &q.hash, 8);
    std::byte* k = p + sizeof(KvRequestEntry);
    if (seq) {
      const KvSeqTag t{q.client, 0, q.seq};
      std::memcpy(k, &t, sizeof t);
      k += sizeof t;
    }
    detail::copy_bytes(k, q.key.data(), q.key.size());
    detail::copy_bytes(k + q.key.size(), value.data(), value.size());
  }
  // The fast path of push(): writes as many of reqs, in order, as fit the open batch's room by
  // the cached consumer index, with the writer's state in locals, and counts them once; returns
  // how many (0 when none is open or the first does not fit: try_push handles it).
  std::size_t push_in_batch(std::span<const kv::Request> reqs) {
    std::byte* const first = w_.cursor();
    std::byte* p = first;
    std::uint64_t room = w_.room_left();
    std::size_t n = 0;
    for (; n < reqs.size(); ++n) {
      const kv::Request& q = reqs[n];
      const std::uint64_t bytes = footprint(q);
      if (bytes > room || q.key.size() > kv::kMaxKeyBytes) break;
      write_request(p, q, bytes);
      p += bytes;
      room -= bytes;
    }
    if (n != 0) {
      w_.take_n(static_cast<std::uint64_t>(p - first), static_cast<std::uint32_t>(n));
      pushed_ += n;
    }
    return n;
  }

  detail::BatchRecordWriter w_;
  detail::BatchRecordReader r_;
  std::uint64_t pushed_ = 0;
  std::uint64_t responded_ = 0;
};

// ---- The PE end ----------------------------------------------------------------------------

// One answer, as KvPeEnd::respond_n takes it: a status and, for a GET that found its key, the value
// (copied into the ring at once).
struct KvAnswer {
  wire::Status status = wire::Status::ok;
  std::string_view value;
};

class KvPeEnd {
 public:
  KvPeEnd() = default;
  KvPeEnd(qp::RingHeader* req, const std::byte* req_data, qp::RingHeader* resp,
          std::byte* resp_data)
      : r_(req, req_data, "request"),
        w_(qp::RecordProducer(resp, resp_data)),
        max_value_(w_.max_entry_bytes() - sizeof(KvResponseEntry)) {}

  // Up to max published requests, in order, as views into the request ring (valid until the
  // publish() after they are all answered): ready for Partition::execute. Empty when none is
  // published, or while spilled responses still wait for room (back-pressure). Every request of
  // the previous call must have been answered first.
  std::span<const kv::Request> consume(std::size_t max) {
    if (owed_ != 0) detail::throw_kv_usage("consume: answer every request of the last batch first");
    if (!flush()) return {};
    std::size_t got = 0;
    while (got < max) {
      std::uint64_t batch_bytes = 0;  // the next batch is opened, its header checked
      if (r_.peek(consumed_, batch_bytes) == nullptr) break;
      // The rest of this batch, walked with locals into reqs_ (grown, never shrunk); the reader
      // is told once (or, if a check throws, how far the walk got).
      const std::size_t n = std::min<std::size_t>(r_.left_in_batch(), max - got);
      if (reqs_.size() < got + n) reqs_.resize(std::max(got + n, 2 * reqs_.size()));
      kv::Request* const out = reqs_.data() + got;
      r_.walk(n, consumed_, [out](const std::byte* p, std::uint64_t avail, std::uint64_t k) {
        std::uint64_t bytes = 0;
        out[k] = read_request(p, avail, bytes);
        return bytes;
      });
      got += n;
    }
    owed_ = got;
    return std::span<const kv::Request>(reqs_.data(), got);
  }

  // Answers the next consumed request (in order). The value is copied at once (into the ring, or
  // the spill buffer when the ring is full), so the caller may mutate the store right after. A
  // GET value larger than the response ring can ever carry is answered too_large.
  void respond(wire::Status st, std::string_view value = {}) {
    if (owed_ == 0) detail::throw_kv_usage("respond: no consumed request is waiting for an answer");
    respond_one(clamped(KvAnswer{st, value}));
  }

  // Answers the next n consumed requests in order: answer(i) (i = 0..n-1, each called once, in
  // order) gives the i-th as a KvAnswer. The same bytes as n respond() calls, but the answers
  // that fit the open batch (opened here if none is) are written with the writer's state in
  // locals and counted once; the rest go through respond(). Throws std::invalid_argument when
  // fewer than n requests wait for an answer. If answer(i) throws, the answers before it stand.
  template <class F>
  void respond_n(std::size_t n, F&& answer) {
    if (n > owed_) detail::throw_kv_usage("respond: more answers than requests waiting for one");
    std::size_t i = 0;
    while (i < n) {
      KvAnswer a = clamped(answer(i));
      std::uint64_t bytes = kv_response_footprint(a.value.size());
      if (!spilled() && w_.ensure_open(bytes)) {
        std::byte* const first = w_.cursor();
        std::byte* p = first;
        std::uint64_t room = w_.room_left();
        std::size_t k = 0;  // answers written at first.. and not yet counted
        const auto count = [&] {
          w_.take_n(static_cast<std::uint64_t>(p - first), static_cast<std::uint32_t>(k));
          written_ += k;
          owed_ -= k;
          i += k;
        };
        try {
          while (bytes <= room) {
            write_response(p, a, bytes);
            p += bytes;
            room -= bytes;
            if (i + ++k == n) break;
            a = clamped(answer(i + k));
            bytes = kv_response_footprint(a.value.size());
          }
        } catch (...) {
          count();
          throw;
        }
        count();
        if (i == n) break;
      }
      respond_one(a);  // it did not fit: a new batch, or the spill buffer
      ++i;
    }
  }
  // The store's answer: status and, for a GET that found the key, its value.
  void respond(kv::Status st, std::string_view value) {
    respond(to_wire(st), st == kv::Status::ok ? value : std::string_view{});
  }

  // Makes the answers visible to the CE (one index store) and, once every consumed request is
  // answered, releases the request bytes (one index store). Returns false while some answers still
  // wait in the spill buffer for the CE to make room: call publish() again later.
  bool publish() {
    const bool all = flush();
    w_.publish(written_);
    if (owed_ == 0) r_.publish();
    return all;
  }

  // consume + Partition::execute + respond + publish: one batch of up to max requests against one
  // partition; returns how many were served.
  std::size_t serve(Partition& part, std::size_t max) {
    const auto reqs = consume(max);
    if (!reqs.empty()) {
      part.execute(reqs,
                   [this](std::size_t, kv::Status st, std::string_view v) { respond(st, v); });
    }
    publish();
    return reqs.size();
  }

  std::uint64_t consumed() const { return consumed_; }  // requests consumed so far
  std::uint64_t answered() const { return consumed_ - owed_; }
  bool spilled() const { return spill_head_ != spill_.size(); }
  std::size_t spill_bytes() const { return spill_.size() - spill_head_; }

 private:
  // Moves spilled answers into the ring while they fit (not published); true when none is left.
  bool flush() {
    if (!spilled()) return true;
    return flush_slow();
  }
  bool flush_slow();

  // A GET value larger than the response ring can ever carry is answered too_large.
  KvAnswer clamped(KvAnswer a) const {
    if (a.value.size() > max_value_) [[unlikely]]
      return KvAnswer{wire::Status::too_large, {}};
    return a;
  }
  // Writes answer a as an entry of `bytes` (its footprint) at p.
  static void write_response(std::byte* p, const KvAnswer& a, std::uint64_t bytes) {
    std::memset(p + bytes - 8, 0, 8);  // the padding (the header overwrites it if there is none)
    const KvResponseEntry h{static_cast<std::uint8_t>(a.status), 0, 0,
                            static_cast<std::uint32_t>(a.value.size())};
    std::memcpy(p, &h, sizeof h);
    detail::copy_bytes(p + sizeof h, a.value.data(), a.value.size());
  }
  // Answers the next request (owed_ > 0) with a (clamped): into the ring, or the spill buffer.
  void respond_one(const KvAnswer& a) {
    --owed_;
    const std::uint64_t bytes = kv_response_footprint(a.value.size());
    std::byte* p = spilled() ? nullptr : w_.append(bytes, written_);
    if (p != nullptr) {
      ++written_;
    } else {  // no room: keep the answer (a copy) until flush()
      const std::size_t at = spill_.size();
      spill_.resize(at + bytes);
      p = spill_.data() + at;
    }
    write_response(p, a, bytes);
  }

  // The request entry at p, with `avail` bytes left in its batch, as a view; `bytes` gets its
  // footprint. Throws qp::Error if it runs past its batch or has a bad opcode.
  static kv::Request read_request(const std::byte* p, std::uint64_t avail, std::uint64_t& bytes) {
    const auto h = detail::read_entry<KvRequestEntry>(
        p, avail, "request",
        [](const KvRequestEntry& e) {
          return kv_request_footprint(e.key_len, e.value_len, (e.flags & kSequenced) != 0);
        },
        bytes);
    if (h.op < 1 || h.op > 3) detail::throw_kv_corrupt("request", "bad opcode", h.op, 0);
    const char* key = reinterpret_cast<const char*>(p + sizeof h);
    KvSeqTag t{0, 0, 0};
    if ((h.flags & kSequenced) != 0) {
      std::memcpy(&t, key, sizeof t);
      key += sizeof t;
    }
    return kv::Request{static_cast<Op>(h.op - 1),
                       h.key_hash,
                       std::string_view(key, h.key_len),
                       std::string_view(key + h.key_len, h.value_len),
                       t.client,
                       t.seq};
  }

  detail::BatchRecordReader r_;
  detail::BatchRecordWriter w_;
  std::uint64_t max_value_ = 0;  // the largest GET value the response ring carries
  std::vector<kv::Request> reqs_;
  std::uint64_t consumed_ = 0;
  std::uint64_t owed_ = 0;     // consumed, not answered yet
  std::uint64_t written_ = 0;  // answers in the ring (the next one's sequence number)
  std::vector<std::byte> spill_;
  std::size_t spill_head_ = 0;
};

// ---- The segment ---------------------------------------------------------------------------

// A named segment of N KV queue pairs. The creator (the host, usually the PE side) removes the
// name when it is destroyed; the other process attaches by name.
class KvQueue {
 public:
  static KvQueue create(std::string_view name, const KvQueueLayout& layout,
                        const qp::CreateOptions& opts = {});
  // Attaches and takes the geometry from the segment; throws qp::Error (one line) if it is not a
  // KV queue segment or, with `expected`, if any field differs.
  static KvQueue attach(std::string_view name, const qp::AttachOptions& opts = {});
  static KvQueue attach(std::string_view name, const KvQueueLayout& expected,
                        const qp::AttachOptions& opts = {});
  // Removes the segments named prefix* that a killed creator left behind
  // (qp::Segment::remove_stale: both sides gone); returns their names.
  static std::vector<std::string> remove_stale(std::string_view prefix) {
    return qp::Segment::remove_stale(prefix);
  }

  const KvQueueLayout& layout() const { return layout_; }
  std::uint32_t queue_pairs() const { return layout_.queue_pairs; }
  qp::Segment& segment() { return seg_; }
  const qp::Segment& segment() const { return seg_; }
  // The application's part of the segment's extra area (layout().extra_bytes bytes).
  std::span<std::byte> extra() { return seg_.extra().first(layout_.extra_bytes); }

  // Pair i's doorbells (qp/doorbell.hpp), in the segment: the request bell (the pair's PE sleeps
  // on it when it has nothing to do; the CE rings it after publishing requests) and the response
  // bell (the CE sleeps on it while it waits for answers; the PE rings it after publishing them).
  // A PE serving several pairs sleeps on the request bell of its first pair, so every CE of its
  // pairs rings that one.
  qp::Doorbell& request_bell(std::uint32_t pair) const;
  qp::Doorbell& response_bell(std::uint32_t pair) const;

  // The two ends of pair i. Exactly one CE end and one PE end may be in use per pair.
  KvCeEnd ce(std::uint32_t pair) const;
  KvPeEnd pe(std::uint32_t pair) const;
  // Empties pair i: both rings' indices back to 0, so the next CE and PE ends start at sequence
  // 0 and nothing written before (published or half-written) is ever read. Only while no end of
  // the pair is in use: the host's PE calls it after the engine process that held the CE end
  // died (docs/kv-designs.md, "Engine restart"), before a new engine attaches.
  void reset_pair(std::uint32_t pair);

 private:
  KvQueue(qp::Segment seg, const KvQueueLayout& l) : seg_(std::move(seg)), layout_(l) {}
  static KvQueue checked(qp::Segment seg, const qp::AttachOptions& opts);
  void check_pair(std::uint32_t pair) const;
  qp::Doorbell* bells() const;

  qp::Segment seg_;
  KvQueueLayout layout_;
};

}  // namespace buddy::kv::queue
