#include "buddy/engine/engine.hpp"

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "buddy/msg/error.hpp"
#include "buddy/msg/routing.hpp"
#include "buddy/msg/wire.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy/qp/error.hpp"

namespace buddy::engine {

namespace {

namespace off = msg::offload;

double cpu_now() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// The engine waits on app ranks it cannot hurry: spin a little, yield a little, then sleep, so
// an oversubscribed engine leaves the cores to the ranks.
constexpr qp::BackoffConfig engine_backoff{
    .spins = 64, .yields = 200, .min_sleep_us = 1, .max_sleep_us = 100};

// Attaches to app rank r's segment, created by the process the job names (an older segment of
// the same name, left by a crashed run, is waited out until the rank has replaced it).
qp::Segment attach_rank(const off::job& j, int r) {
  const std::string name = j.segment_name(r);
  const std::uint64_t deadline = off::monotonic_ns() + 60'000'000'000ull;
  std::string last = "not created";
  for (;;) {
    try {
      qp::Segment s = qp::Segment::attach(name);
      if (s.creator_pid() == j.app_pid[static_cast<std::size_t>(r)]) {
        const qp::SegmentLayout& l = s.layout();
        if (l.queue_pairs != off::channels || l.request.kind != qp::RingKind::records ||
            l.response.kind != qp::RingKind::records) {
          throw msg::error("buddy-engine: segment '" + name + "' is not a buddy::msg segment");
        }
        return s;
      }
      last = "created by pid " + std::to_string(s.creator_pid()) + ", not by the rank";
    } catch (const qp::Error& e) {
      last = e.what();
    }
    if (off::monotonic_ns() > deadline) {
      throw msg::error("buddy-engine: app rank " + std::to_string(r) + "'s segment '" + name +
                       "' did not appear (" + last + ")");
    }
    ::usleep(1000);
  }
}

}  // namespace

std::string engine_stats::json(int engine, int node, int ranks) const {
  char line[1024];
  std::snprintf(
      line, sizeof line,
      "{\"engine\":%d,\"node\":%d,\"ranks\":%d,\"cpu_s\":%.4f,\"wall_s\":%.4f,"
      "\"records_in\":%llu,\"bytes_in\":%llu,\"records_local\":%llu,\"records_remote\":%llu,"
      "\"records_from_mpi\":%llu,\"records_delivered\":%llu,\"records_held\":%llu,"
      "\"max_held_bytes\":%llu,\"mpi_buffers_sent\":%llu,\"mpi_bytes_sent\":%llu,"
      "\"mpi_buffers_received\":%llu,\"records_relayed\":%llu,\"send_waits\":%llu}",
      engine, node, ranks, cpu_s, wall_s, static_cast<unsigned long long>(records_in),
      static_cast<unsigned long long>(bytes_in), static_cast<unsigned long long>(records_local),
      static_cast<unsigned long long>(records_remote),
      static_cast<unsigned long long>(records_from_mpi),
      static_cast<unsigned long long>(records_delivered),
      static_cast<unsigned long long>(records_held),
      static_cast<unsigned long long>(max_held_bytes),
      static_cast<unsigned long long>(net.buffers_flushed),
      static_cast<unsigned long long>(net.bytes_flushed),
      static_cast<unsigned long long>(net.buffers_received),
      static_cast<unsigned long long>(net.msgs_relayed),
      static_cast<unsigned long long>(net.backpressure_waits));
  return line;
}

engine::engine(const off::job& job, const engine_options& opts) : job_(job), opts_(opts) {
  const int me = job_.group_rank;
  local_.assign(static_cast<std::size_t>(job_.app_count), -1);
  for (int r = 0; r < job_.app_count; ++r) {
    if (job_.engine_of[static_cast<std::size_t>(r)] != me) continue;
    auto s = std::make_unique<served>(r, attach_rank(job_, r));
    s->ctl = &off::control_of(s->seg);
    for (std::uint32_t c = 0; c < off::channels; ++c) {
      s->out[c] = s->seg.request_consumer<qp::Record>(c);
      s->in[c] = delivery(s->seg.response_producer<qp::Record>(c));
    }
    local_[static_cast<std::size_t>(r)] = static_cast<int>(served_.size());
    served_.push_back(std::move(s));
  }
  // Destination ids on the engines' wire: channel * app ranks + rank.
  const msg::layout lay(me, job_.engine_node);
  const std::vector<int> engine_hop = lay.route_table(opts_.msg.route);
  std::vector<int> next_hop(static_cast<std::size_t>(job_.app_count) * off::channels);
  for (std::size_t d = 0; d < next_hop.size(); ++d) {
    next_hop[d] = engine_hop[static_cast<std::size_t>(
        job_.engine_of[d % static_cast<std::size_t>(job_.app_count)])];
  }
  const std::set<int> hops(next_hop.begin(), next_hop.end());
  router_ = std::make_unique<msg::router>(job_.group, std::move(next_hop),
                                          std::vector<int>(hops.begin(), hops.end()),
                                          opts_.buffer_kb * 1024, opts_.max_sends);
  router_->set_drain_hook(&engine::drain, this);
  for (auto& s : served_) {
    s->ctl->engine_index.store(static_cast<std::uint32_t>(me), std::memory_order_relaxed);
    s->ctl->engine_beat_ns.store(off::monotonic_ns(), std::memory_order_release);
    s->ctl->engine_pid.store(static_cast<std::int64_t>(::getpid()), std::memory_order_release);
  }
}

engine::~engine() {
  // Segments of ranks that died (a crashed run) would stay in /dev/shm: remove their names.
  for (auto& s : served_) {
    if (!s->seg.creator_alive()) qp::Segment::remove(s->seg.name());
  }
}

void engine::beat(bool force) {
  const std::uint64_t now = off::monotonic_ns();
  if (!force && now - last_beat_ns_ < 1'000'000ull) return;
  last_beat_ns_ = now;
  for (auto& s : served_) s->ctl->engine_beat_ns.store(now, std::memory_order_release);
  if (now >= next_check_ns_) {
    next_check_ns_ = now + 200'000'000ull;
    check_ranks();
  }
}

void engine::check_ranks() {
  for (auto& s : served_) {
    if (s->ctl->app_done.load(std::memory_order_acquire) == 0 && !s->seg.creator_alive()) {
      throw msg::error("buddy-engine: app rank " + std::to_string(s->rank) + " (pid " +
                       std::to_string(s->seg.creator_pid()) + ") died before finishing");
    }
  }
}

bool engine::all_done() const {
  return std::all_of(served_.begin(), served_.end(), [](const auto& s) {
    return s->ctl->app_done.load(std::memory_order_acquire) != 0;
  });
}

void engine::deliver(std::uint32_t ext_dest, std::uint32_t length, const std::byte* payload) {
  const auto n = static_cast<std::uint32_t>(job_.app_count);
  const std::uint32_t dest = ext_dest % n, channel = ext_dest / n;
  const int idx = local_[dest];
  if (idx < 0) {
    throw msg::error("buddy-engine: received a record for rank " + std::to_string(dest) +
                     ", which another engine serves");
  }
  served_[static_cast<std::size_t>(idx)]->in[channel].deliver(dest, length, payload);
  ++stats_.records_delivered;
}

bool engine::drain_outbound(served& s, std::uint32_t channel) {
  qp::RecordConsumer& ring = s.out[channel];
  const auto n = static_cast<std::uint32_t>(job_.app_count);
  std::size_t count = 0;
  for (; count < 256; ++count) {
    const auto rec = ring.front();
    if (!rec) break;
    // One ring record holds wire records back to back, like an MPI buffer.
    try {
      msg::wire::for_each_record(rec->data(), rec->size(), n, [&](const msg::wire::record& r) {
        ++stats_.records_in;
        stats_.bytes_in += msg::wire::header_bytes + r.length;
        if (local_[r.dest] >= 0) {
          ++stats_.records_local;
          deliver(channel * n + r.dest, r.length, r.payload);
        } else {
          ++stats_.records_remote;
          std::byte* p = router_->reserve(static_cast<int>(channel * n + r.dest), r.length);
          std::memcpy(p, r.payload, r.length);
        }
      });
    } catch (const msg::error& e) {
      throw msg::error("buddy-engine: from app rank " + std::to_string(s.rank) + ": " + e.what());
    }
    ring.pop();
  }
  ring.publish();
  return count != 0;
}

bool engine::process_inbox() {
  if (in_inbox_) return false;
  in_inbox_ = true;
  struct reset {
    bool& flag;
    ~reset() { flag = false; }
  } guard{in_inbox_};
  const auto ids = static_cast<std::uint32_t>(job_.app_count) * off::channels;
  bool any = false;
  msg::buffer b;
  while (router_->pop_inbox(b)) {
    any = true;
    msg::wire::for_each_record(b.data.get(), b.size, ids, [&](const msg::wire::record& r) {
      const auto dest = r.dest % static_cast<std::uint32_t>(job_.app_count);
      if (local_[dest] >= 0) {
        ++stats_.records_from_mpi;
        deliver(r.dest, r.length, r.payload);
      } else {
        router_->forward(r);  // nr / nlnr among engines
      }
    });
    router_->recycle(std::move(b));
  }
  return any;
}

bool engine::retry_deliveries() {
  bool any = false;
  for (auto& s : served_) {
    for (auto& d : s->in) {
      any = d.retry() || any;
      d.publish();
    }
  }
  return any;
}

bool engine::drain(void* self) {
  auto* e = static_cast<engine*>(self);
  const bool any = e->process_inbox();
  e->retry_deliveries();
  e->beat(false);
  return any;
}

void engine::run() {
  const double cpu0 = cpu_now();
  const double wall0 = msg::now_s();
  qp::Backoff backoff(engine_backoff);
  MPI_Request finish = MPI_REQUEST_NULL;
  bool finishing = false;
  int idle_passes = 0;
  for (;;) {
    bool took = false;
    for (auto& s : served_) {
      for (std::uint32_t c = 0; c < off::channels; ++c) took = drain_outbound(*s, c) || took;
    }
    bool worked = router_->poll();
    worked = process_inbox() || worked;
    worked = retry_deliveries() || worked;
    // Aggregation: a buffer leaves when full, or once the rings have nothing more for it.
    if (!took && ++idle_passes >= 2) {
      idle_passes = 0;
      worked = router_->flush_all() || worked;
    }
    if (took) idle_passes = 0;
    beat(false);
    // Every app rank finished (a rank finishes only after its last barrier, so nothing is in
    // flight anywhere); engines leave together, serving relays until then.
    if (!finishing && all_done()) {
      finishing = true;
      MPI_Ibarrier(job_.group, &finish);
    }
    if (finishing) {
      int flag = 0;
      MPI_Test(&finish, &flag, MPI_STATUS_IGNORE);
      if (flag) break;
    }
    if (took || worked) {
      backoff.reset();
    } else {
      backoff.pause();
    }
  }
  stats_.cpu_s = cpu_now() - cpu0;
  stats_.wall_s = msg::now_s() - wall0;
}

engine_stats engine::stats() const {
  engine_stats s = stats_;
  for (const auto& r : served_) {
    for (const auto& d : r->in) {
      s.records_held += d.counters().held;
      s.max_held_bytes = std::max(s.max_held_bytes, d.counters().max_held_bytes);
    }
  }
  s.net = router_->counters();
  return s;
}

}  // namespace buddy::engine
