#include "buddy/msg/detail/offload_port.hpp"

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include "buddy/base/clock.hpp"
#include "buddy/msg/transport/error.hpp"
#include "buddy/msg/transport/router.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy/qp/error.hpp"

namespace buddy::msg {

// What an offload rank waits for is the engine's work: yield only briefly, then sleep, so that
// an engine sharing the cores gets them (and the rank spends little CPU waiting).
const qp::BackoffConfig offload_wait_backoff{
    .spins = 64, .yields = 16, .min_sleep_us = 1, .max_sleep_us = 100};

namespace {

// This process's segment and which of its channels are in use.
struct app_link {
  const offload::job* job = nullptr;
  qp::Segment seg;
  unsigned used = 0;  // bit c: channel c belongs to a live comm
};
std::unique_ptr<app_link> the_link;

// MPI_Finalize frees MPI_COMM_SELF's attributes first: tell the engine this rank is done.
int on_finalize(MPI_Comm, int, void*, void*) {
  if (the_link) offload::control_of(the_link->seg).app_done.store(1, std::memory_order_release);
  return MPI_SUCCESS;
}

qp::Segment create_segment(const std::string& name, int rank, const options& opts) {
  try {
    // A segment left by a crashed run: qp replaces it when its creator is gone (and refuses
    // one whose creator lives); say so, it is worth knowing.
    try {
      qp::Segment old = qp::Segment::attach(name);
      if (!old.alive(qp::Side::creator)) {
        std::fprintf(stderr, "buddy::msg: rank %d: replacing stale segment '%s' left by pid %lld\n",
                     rank, name.c_str(), static_cast<long long>(old.holder(qp::Side::creator).pid));
      }
    } catch (const qp::Error&) {
      // none there (or not a segment at all: create() replaces it)
    }
    return qp::Segment::create(name, offload::segment_layout(opts.ring_kb));
  } catch (const qp::Error& e) {
    throw error("buddy::msg: rank " + std::to_string(rank) + ": offload segment: " + e.what());
  }
}

app_link& link(const options& opts) {
  if (the_link) return *the_link;
  const offload::job& j = offload::join(false, opts);
  auto l = std::make_unique<app_link>(
      app_link{&j, create_segment(j.segment_name(j.group_rank), j.group_rank, opts), 0});
  int key = MPI_KEYVAL_INVALID;
  MPI_Comm_create_keyval(MPI_COMM_NULL_COPY_FN, &on_finalize, &key, nullptr);
  MPI_Comm_set_attr(MPI_COMM_SELF, key, nullptr);
  the_link = std::move(l);
  return *the_link;
}

}  // namespace

MPI_Comm app_world(const options& opts) {
  if (opts.mode != run_mode::offload) return MPI_COMM_WORLD;
  return link(opts).job->group;
}

offload_port::offload_port(const options& opts) {
  app_link& l = link(opts);
  rank_ = l.job->group_rank;
  seg_ = &l.seg;
  while (channel_ < offload::channels && (l.used & (1u << channel_)) != 0) ++channel_;
  if (channel_ == offload::channels) {
    throw error("buddy::msg: offload mode allows " + std::to_string(offload::channels) +
                " comms alive at once per rank");
  }
  out_ = qp::BatchWriter(l.seg.request_producer<qp::Record>(channel_), offload::chunk_bytes);
  in_ = l.seg.response_consumer<qp::Record>(channel_);
  max_payload_ = std::min<std::uint64_t>(out_.max_append() - wire::header_bytes, wire::max_payload);
  timeout_ns_ = static_cast<std::uint64_t>(opts.engine_timeout_ms) * 1'000'000ull;
  l.used |= 1u << channel_;

  // The engine attaches right after the job starts; give it the timeout plus start-up time.
  const std::uint64_t deadline = base::monotonic_ns() + timeout_ns_ + 10'000'000'000ull;
  qp::Backoff backoff(wait_backoff);
  while ((engine_pid_ = l.seg.holder(qp::Side::attacher).pid) == 0) {
    if (base::monotonic_ns() > deadline) {
      l.used &= ~(1u << channel_);
      throw error("buddy::msg: rank " + std::to_string(rank_) + ": no buddy-engine attached to " +
                  "segment '" + l.seg.name() + "' in time");
    }
    backoff.pause();
  }
}

offload_port::~offload_port() {
  publish();
  in_.publish();
  if (the_link) the_link->used &= ~(1u << channel_);
}

bool offload_port::close_chunk() {
  tail_ = nullptr;
  const std::size_t n = out_.close();
  if (n == 0) return false;
  ++stats_.buffers_flushed;
  stats_.bytes_flushed += n;
  return true;
}

bool offload_port::publish() {
  if (!close_chunk()) return false;
  out_.publish();
  return true;
}

void offload_port::check_engine() {
  const auto age = static_cast<std::uint64_t>(seg_->peer_heartbeat_age().count());
  std::string why;
  if (age > timeout_ns_) {
    char text[64];
    std::snprintf(text, sizeof text, "no heartbeat for %.1f s", static_cast<double>(age) * 1e-9);
    why = text;
  } else if (const std::uint64_t now = base::monotonic_ns(); now >= next_pid_check_ns_) {
    next_pid_check_ns_ = now + 50'000'000ull;  // 50 ms: a look at /proc costs microseconds
    if (!seg_->peer_alive()) why = "its process is gone";
  }
  if (!why.empty()) [[unlikely]] {
    throw error("buddy::msg: rank " + std::to_string(rank_) +
                ": the buddy-engine serving it (pid " + std::to_string(engine_pid_) +
                ") stopped: " + why);
  }
}

void offload_port::too_large(std::uint64_t length) const {
  throw error("buddy::msg::async: a message of " + std::to_string(length) +
              " bytes exceeds the offload ring's record limit of " + std::to_string(max_payload_) +
              " bytes (raise BUDDY_RING_KB)");
}

std::byte* offload_port::reserve_slow(std::uint32_t dest, std::uint32_t length) {
  const std::size_t need = wire::header_bytes + length;
  qp::Backoff backoff(offload_wait_backoff);
  bool waited = false;
  for (;;) {
    // Handlers run while waiting may have opened a chunk of their own: use it if it has room.
    if (std::byte* p = out_.try_append(need)) {
      tail_ = p;
      wire::write_header(p, dest, length);
      return p + wire::header_bytes;
    }
    if (publish()) continue;  // a full chunk goes to the engine; then try a fresh one
    if (out_.open(need)) continue;
    // The ring is full: wait for the engine, serving arrivals meanwhile.
    if (!waited) {
      waited = true;
      ++stats_.backpressure_waits;
    }
    if (drain_ != nullptr && drain_(drain_ctx_)) {
      backoff.reset();
      continue;
    }
    const double t0 = now_s();
    check_engine();
    backoff.pause();
    stats_.comm_s += now_s() - t0;
  }
}

}  // namespace buddy::msg
