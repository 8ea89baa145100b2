// The two sides of a verified echo over one queue pair, run either in two threads (stress test,
// TSan) or in two processes (fork + attach by name). The requester sends sequence-numbered
// entries with check words; the responder verifies order and content of each and answers with
// the sequence number and a checksum of the entry; the requester verifies every answer. Any loss,
// duplicate, reorder or corruption fails with a one-line reason. Batch sizes vary at random so
// batch boundaries fall everywhere relative to the ring's wrap point.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>

#include "buddy/qp/backoff.hpp"
#include "buddy/qp/segment.hpp"
#include "test_util.hpp"

namespace buddy::qp::testing {

struct Req32 {
  std::uint64_t seq, a, b, c;
};
struct Resp16 {
  std::uint64_t seq, sum;
};
static_assert(sizeof(Req32) == 32 && sizeof(Resp16) == 16);

inline Req32 make_req(std::uint64_t seq) {
  return {seq, mix(seq), mix(seq + 1), seq ^ 0x5a5a};
}
inline std::uint64_t req_sum(const Req32& r) {
  return mix(r.seq ^ r.a) + r.b + r.c;
}

// Record n's length and bytes, a pure function of n so both sides know them.
inline std::uint64_t record_len(std::uint64_t seq, std::uint64_t max) {
  const std::uint64_t h = mix(seq * 7 + 3);
  return (h & 15) == 0 ? (h >> 8) % (max + 1) : (h >> 8) % 200;
}
inline std::byte record_byte(std::uint64_t seq, std::uint64_t i) {
  return static_cast<std::byte>((seq * 0x9e37 + i * 31 + (i >> 8)) & 0xff);
}

struct PeerResult {
  bool ok = true;
  std::string why;
  std::uint64_t count = 0;     // entries or records that went through, verified
  std::uint64_t checksum = 0;  // running checksum over everything verified
};

using Clock = std::chrono::steady_clock;

class BatchSizes {
 public:
  BatchSizes(std::uint64_t seed, std::size_t max_batch) : rng_(seed), max_(max_batch) {}
  std::size_t next() { return 1 + rng_() % max_; }

 private:
  std::mt19937_64 rng_;
  std::size_t max_;
};

// Waits with backoff; returns false once the deadline has passed.
class Pacer {
 public:
  explicit Pacer(Clock::duration timeout) : deadline_(Clock::now() + timeout) {}
  bool step(bool progress) {
    if (progress) {
      backoff_.reset();
      return true;
    }
    if (Clock::now() > deadline_) return false;
    backoff_.pause();
    return true;
  }

 private:
  Clock::time_point deadline_;
  Backoff backoff_;
};

// Side A over fixed rings: sends n Req32, expects n matching Resp16 in order.
inline PeerResult fixed_requester(RequesterEnd<Req32, Resp16>&& end, std::uint64_t n,
                                  std::size_t max_batch, Clock::duration timeout) {
  BatchSizes sizes(1, max_batch);
  Pacer pacer(timeout);
  PeerResult res;
  std::uint64_t sent = 0;
  while (res.count < n) {
    bool progress = false;
    std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(sizes.next(), n - sent));
    while (want > 0) {
      auto s = end.requests.reserve(want);
      if (s.empty()) break;
      for (auto& e : s) e = make_req(sent++);
      end.requests.advance(s.size());
      want -= s.size();
      progress = true;
    }
    end.requests.publish();
    std::string bad;
    const std::size_t got = end.responses.consume(sizes.next(), [&](const Resp16& r) {
      if (!bad.empty()) return;
      if (r.seq != res.count) {
        bad = "response " + std::to_string(r.seq) + " where " + std::to_string(res.count) +
              " was due";
      } else if (r.sum != req_sum(make_req(r.seq))) {
        bad = "bad checksum in response " + std::to_string(r.seq);
      }
      res.checksum = res.checksum * 31 + r.sum;
      ++res.count;
    });
    if (!bad.empty()) return {false, "requester: " + bad, res.count, 0};
    if (!pacer.step(progress || got > 0)) {
      return {false,
              "requester timed out: sent " + std::to_string(sent) + ", answered " +
                  std::to_string(res.count),
              res.count, 0};
    }
  }
  return res;
}

// Side B over fixed rings: verifies n Req32 in order and answers each.
inline PeerResult fixed_responder(ResponderEnd<Req32, Resp16>&& end, std::uint64_t n,
                                  std::size_t max_batch, Clock::duration timeout) {
  BatchSizes sizes(2, max_batch);
  Pacer pacer(timeout);
  PeerResult res;
  while (res.count < n) {
    bool progress = false;
    std::size_t want = sizes.next();
    while (want > 0) {
      auto in = end.requests.peek(want);
      if (in.empty()) break;
      auto out = end.responses.reserve(in.size());
      if (out.empty()) break;
      for (std::size_t i = 0; i < out.size(); ++i) {
        const Req32& r = in[i];
        const Req32 want_r = make_req(res.count);
        if (r.seq != want_r.seq || r.a != want_r.a || r.b != want_r.b || r.c != want_r.c) {
          return {false,
                  "responder: request " + std::to_string(r.seq) + " where " +
                      std::to_string(res.count) + " was due (or corrupt)",
                  res.count, 0};
        }
        out[i] = {r.seq, req_sum(r)};
        res.checksum = res.checksum * 31 + out[i].sum;
        ++res.count;
      }
      end.requests.advance(out.size());
      end.responses.advance(out.size());
      want -= out.size();
      progress = true;
    }
    end.requests.publish();
    end.responses.publish();
    if (res.count > n) return {false, "responder: more requests than sent", res.count, 0};
    if (!pacer.step(progress)) {
      return {false, "responder timed out after " + std::to_string(res.count), res.count, 0};
    }
  }
  if (end.requests.available() != 0) {
    return {false, "responder: extra requests after the last one", res.count, 0};
  }
  return res;
}

// Side A over a record request ring: sends n records of pseudo-random sizes (up to max_len),
// expects n Resp16 {seq, checksum of the record} in order.
inline PeerResult record_requester(RequesterEnd<Record, Resp16>&& end, std::uint64_t n,
                                   std::uint64_t max_len, std::size_t max_batch,
                                   Clock::duration timeout) {
  BatchSizes sizes(3, max_batch);
  Pacer pacer(timeout);
  PeerResult res;
  std::uint64_t sent = 0;
  while (res.count < n) {
    bool progress = false;
    for (std::size_t k = sizes.next(); k > 0 && sent < n; --k) {
      const std::uint64_t len = record_len(sent, max_len);
      std::byte* p = end.requests.reserve(len);
      if (p == nullptr) break;
      for (std::uint64_t i = 0; i < len; ++i) p[i] = record_byte(sent, i);
      end.requests.commit(len);
      ++sent;
      progress = true;
    }
    end.requests.publish();
    std::string bad;
    const std::size_t got = end.responses.consume(sizes.next(), [&](const Resp16& r) {
      if (!bad.empty()) return;
      if (r.seq != res.count) bad = "record response out of order at " + std::to_string(r.seq);
      res.checksum = res.checksum * 31 + r.sum;
      ++res.count;
    });
    if (!bad.empty()) return {false, "requester: " + bad, res.count, 0};
    if (!pacer.step(progress || got > 0)) {
      return {false, "record requester timed out at " + std::to_string(res.count), res.count, 0};
    }
  }
  return res;
}

// Side B over a record request ring: verifies every record byte for byte and answers each.
inline PeerResult record_responder(ResponderEnd<Record, Resp16>&& end, std::uint64_t n,
                                   std::uint64_t max_len, std::size_t max_batch,
                                   Clock::duration timeout) {
  BatchSizes sizes(4, max_batch);
  Pacer pacer(timeout);
  PeerResult res;
  while (res.count < n) {
    bool progress = false;
    for (std::size_t k = sizes.next(); k > 0; --k) {
      auto out = end.responses.reserve(1);
      if (out.empty()) break;
      auto rec = end.requests.front();
      if (!rec) break;
      const std::uint64_t seq = res.count;
      if (rec->size() != record_len(seq, max_len)) {
        return {false,
                "responder: record " + std::to_string(seq) + " has " + std::to_string(rec->size()) +
                    " B, expected " + std::to_string(record_len(seq, max_len)),
                res.count, 0};
      }
      std::uint64_t sum = seq;
      for (std::uint64_t i = 0; i < rec->size(); ++i) {
        if ((*rec)[i] != record_byte(seq, i)) {
          return {
              false,
              "responder: record " + std::to_string(seq) + " corrupt at byte " + std::to_string(i),
              res.count, 0};
        }
        sum = sum * 131 + static_cast<std::uint64_t>((*rec)[i]);
      }
      out[0] = {seq, sum};
      end.responses.advance(1);
      end.requests.pop();
      res.checksum = res.checksum * 31 + sum;
      ++res.count;
      progress = true;
    }
    end.requests.publish();
    end.responses.publish();
    if (!pacer.step(progress)) {
      return {false, "record responder timed out after " + std::to_string(res.count), res.count, 0};
    }
  }
  if (end.requests.front().has_value()) {
    return {false, "responder: extra records after the last one", res.count, 0};
  }
  return res;
}

inline SegmentLayout fixed_echo_layout(std::uint64_t entries) {
  SegmentLayout l;
  l.request = RingSpec::fixed(sizeof(Req32), entries);
  l.response = RingSpec::fixed(sizeof(Resp16), entries);
  return l;
}

inline SegmentLayout record_echo_layout(std::uint64_t bytes, std::uint64_t entries) {
  SegmentLayout l;
  l.request = RingSpec::records(bytes);
  l.response = RingSpec::fixed(sizeof(Resp16), entries);
  return l;
}

}  // namespace buddy::qp::testing
