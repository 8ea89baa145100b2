#include "buddy/kv/queue/kv_queue.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <thread>

#include "buddy/qp/backoff.hpp"

namespace buddy::kv::queue {

namespace detail {

void throw_kv_corrupt(const char* ring, const char* what, std::uint64_t a, std::uint64_t b) {
  char buf[256];
  std::snprintf(buf, sizeof buf, "kv queue: corrupt %s ring: %s (%llu, %llu)", ring, what,
                static_cast<unsigned long long>(a), static_cast<unsigned long long>(b));
  throw qp::Error(buf);
}

void throw_kv_usage(const char* what) {
  std::string msg("kv queue: ");
  msg += what;
  throw std::invalid_argument(msg);
}

void BatchRecordReader::throw_bad_batch(std::uint64_t size, std::uint64_t header,
                                        std::uint64_t expected_seq) const {
  if (size < sizeof(KvBatchHeader)) {
    throw_kv_corrupt(ring_, "record shorter than a batch header", size, 0);
  }
  const std::uint32_t count = static_cast<std::uint32_t>(header);
  const std::uint32_t first_seq = static_cast<std::uint32_t>(header >> 32);
  const std::uint64_t body = size - sizeof(KvBatchHeader);
  if (count == 0 || std::uint64_t{count} * 8 > body) {
    throw_kv_corrupt(ring_, "batch count does not fit its record", count, body);
  }
  throw_kv_corrupt(ring_, "batch out of sequence (got, expected)", first_seq,
                   static_cast<std::uint32_t>(expected_seq));
}

}  // namespace detail

bool KvPeEnd::flush_slow() {
  while (spill_head_ < spill_.size()) {
    KvResponseEntry h;
    std::memcpy(&h, spill_.data() + spill_head_, sizeof h);
    const std::uint64_t bytes = kv_response_footprint(h.value_len);
    std::byte* p = w_.append(bytes, written_);
    if (p == nullptr) return false;
    std::memcpy(p, spill_.data() + spill_head_, bytes);
    spill_head_ += bytes;
    ++written_;
  }
  spill_.clear();
  spill_head_ = 0;
  return true;
}

namespace {

void check_ring_bytes(const char* which, std::uint64_t bytes) {
  if (!qp::is_pow2(bytes) || bytes < 256) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "kv queue: %s ring of %llu bytes: must be a power of two >= 256",
                  which, static_cast<unsigned long long>(bytes));
    throw qp::Error(buf);
  }
}

std::uint64_t* marker_word(qp::Segment& seg) {
  return reinterpret_cast<std::uint64_t*>(seg.user_header().data());
}

}  // namespace

qp::SegmentLayout KvQueueLayout::segment_layout() const {
  if (queue_pairs == 0) throw qp::Error("kv queue: at least one queue pair");
  check_ring_bytes("request", request_ring_bytes);
  check_ring_bytes("response", response_ring_bytes);
  qp::SegmentLayout l;
  l.queue_pairs = queue_pairs;
  l.request = qp::RingSpec::records(request_ring_bytes);
  l.response = qp::RingSpec::records(response_ring_bytes);
  l.extra_bytes = doorbell_offset() + doorbell_bytes();
  qp::Segment::validate(l);
  return l;
}

KvQueueLayout KvQueueLayout::from_segment(const qp::SegmentLayout& l) {
  if (l.request.kind != qp::RingKind::records || l.response.kind != qp::RingKind::records) {
    throw qp::Error("kv queue: not a KV queue segment (its rings are not record rings)");
  }
  KvQueueLayout k;
  k.queue_pairs = l.queue_pairs;
  k.request_ring_bytes = l.request.capacity;
  k.response_ring_bytes = l.response.capacity;
  // The application's part: what is left before the doorbells (KvQueue::checked reads the exact
  // figure from the user header).
  const std::uint64_t bells = std::uint64_t{l.queue_pairs} * 2 * qp::kCacheLine;
  if (l.extra_bytes < bells) {
    throw qp::Error("kv queue: not a KV queue segment (its extra area has no doorbells)");
  }
  k.extra_bytes = l.extra_bytes - bells;
  return k;
}

KvQueue KvQueue::create(std::string_view name, const KvQueueLayout& layout,
                        const qp::CreateOptions& opts) {
  qp::Segment seg = qp::Segment::create(name, layout.segment_layout(), opts);
  auto user = seg.user_header();
  const std::uint32_t ver[2] = {kKvQueueVersion, 0};
  std::memcpy(user.data() + 8, ver, sizeof ver);
  std::memcpy(user.data() + 16, &layout.extra_bytes, sizeof layout.extra_bytes);
  std::atomic_ref<std::uint64_t>(*marker_word(seg)).store(kKvQueueMagic, std::memory_order_release);
  return KvQueue(std::move(seg), layout);
}

KvQueue KvQueue::checked(qp::Segment seg, const qp::AttachOptions& opts) {
  KvQueueLayout l = KvQueueLayout::from_segment(seg.layout());
  // The creator writes the KV marker right after the segment itself: wait a moment for it.
  const auto deadline =
      std::chrono::steady_clock::now() +
      std::max<std::chrono::milliseconds>(opts.wait, std::chrono::milliseconds(200));
  qp::Backoff backoff;
  std::atomic_ref<std::uint64_t> magic(*marker_word(seg));
  while (magic.load(std::memory_order_acquire) != kKvQueueMagic) {
    if (std::chrono::steady_clock::now() > deadline) {
      char buf[300];
      std::snprintf(buf, sizeof buf,
                    "kv queue: segment '%s' is not a KV queue segment (no KV marker in its user "
                    "header)",
                    seg.name().c_str());
      throw qp::Error(buf);
    }
    backoff.pause();
  }
  std::uint32_t ver = 0;
  std::memcpy(&ver, seg.user_header().data() + 8, sizeof ver);
  if (ver != kKvQueueVersion) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "kv queue: KV queue version %u, expected %u", ver,
                  kKvQueueVersion);
    throw qp::Error(buf);
  }
  std::uint64_t app_extra = 0;
  std::memcpy(&app_extra, seg.user_header().data() + 16, sizeof app_extra);
  if (qp::round_up(app_extra, qp::kCacheLine) != l.extra_bytes) {
    char buf[200];
    std::snprintf(
        buf, sizeof buf, "kv queue: extra area of %llu bytes does not fit the %llu the segment has",
        static_cast<unsigned long long>(app_extra), static_cast<unsigned long long>(l.extra_bytes));
    throw qp::Error(buf);
  }
  l.extra_bytes = app_extra;
  return KvQueue(std::move(seg), l);
}

KvQueue KvQueue::attach(std::string_view name, const qp::AttachOptions& opts) {
  return checked(qp::Segment::attach(name, opts), opts);
}

KvQueue KvQueue::attach(std::string_view name, const KvQueueLayout& expected,
                        const qp::AttachOptions& opts) {
  KvQueue q = checked(qp::Segment::attach(name, expected.segment_layout(), opts), opts);
  if (q.layout_.extra_bytes != expected.extra_bytes) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "kv queue: extra area %llu B, expected %llu B",
                  static_cast<unsigned long long>(q.layout_.extra_bytes),
                  static_cast<unsigned long long>(expected.extra_bytes));
    throw qp::Error(buf);
  }
  return q;
}

void KvQueue::check_pair(std::uint32_t pair) const {
  if (pair >= layout_.queue_pairs) {
    char buf[120];
    std::snprintf(buf, sizeof buf, "kv queue: no queue pair %u (the segment has %u)", pair,
                  layout_.queue_pairs);
    throw qp::Error(buf);
  }
}

KvCeEnd KvQueue::ce(std::uint32_t pair) const {
  check_pair(pair);
  qp::RingHeader* rq = seg_.request_ring(pair);
  qp::RingHeader* rs = seg_.response_ring(pair);
  return KvCeEnd(rq, qp::Segment::ring_data(rq), rs, qp::Segment::ring_data(rs));
}

KvPeEnd KvQueue::pe(std::uint32_t pair) const {
  check_pair(pair);
  qp::RingHeader* rq = seg_.request_ring(pair);
  qp::RingHeader* rs = seg_.response_ring(pair);
  return KvPeEnd(rq, qp::Segment::ring_data(rq), rs, qp::Segment::ring_data(rs));
}

qp::Doorbell* KvQueue::bells() const {
  // The segment's extra area is 64-byte aligned (docs/protocol.md section 1).
  return reinterpret_cast<qp::Doorbell*>(const_cast<qp::Segment&>(seg_).extra().data() +
                                         layout_.doorbell_offset());
}

qp::Doorbell& KvQueue::request_bell(std::uint32_t pair) const {
  check_pair(pair);
  return bells()[2 * std::size_t{pair}];
}

qp::Doorbell& KvQueue::response_bell(std::uint32_t pair) const {
  check_pair(pair);
  return bells()[2 * std::size_t{pair} + 1];
}

void KvQueue::reset_pair(std::uint32_t pair) {
  check_pair(pair);
  for (qp::RingHeader* r : {seg_.request_ring(pair), seg_.response_ring(pair)}) {
    r->tail.store(0, std::memory_order_relaxed);
    r->head.store(0, std::memory_order_release);
  }
}

}  // namespace buddy::kv::queue
