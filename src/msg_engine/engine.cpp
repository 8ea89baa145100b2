#include "buddy/msg_engine/engine.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "buddy/base/clock.hpp"
#include "buddy/base/json.hpp"
#include "buddy/base/reentry_guard.hpp"
#include "buddy/msg/transport/error.hpp"
#include "buddy/msg/transport/routing.hpp"
#include "buddy/msg/transport/wire.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy/qp/error.hpp"

namespace buddy::msg_engine {

using detail::delivery;
using detail::handoff;
using detail::lane_map;
using detail::shard;
using detail::shard_stats;

namespace {

namespace off = msg::offload;

double cpu_now() {
  return static_cast<double>(base::process_cpu_ns()) * 1e-9;
}
double thread_cpu_now() {
  return static_cast<double>(base::thread_cpu_ns()) * 1e-9;
}

// The engine waits on app ranks it cannot hurry: spin a little, yield a little, then sleep, so
// an oversubscribed engine leaves the cores to the ranks.
constexpr qp::BackoffConfig engine_backoff{
    .spins = 64, .yields = 200, .min_sleep_us = 1, .max_sleep_us = 100};

// Attaches to app rank r's segment, created by the process the job names (an older segment of
// the same name, left by a crashed run, is waited out until the rank has replaced it).
qp::Segment attach_rank(const off::job& j, int r) {
  const std::string name = j.segment_name(r);
  const std::uint64_t deadline = base::monotonic_ns() + 60'000'000'000ull;
  std::string last = "not created";
  for (;;) {
    try {
      qp::Segment s = qp::Segment::attach(name);
      const std::int64_t creator = s.holder(qp::Side::creator).pid;
      if (creator == j.app_pid[static_cast<std::size_t>(r)]) {
        const qp::SegmentLayout& l = s.layout();
        if (l.queue_pairs != off::channels || l.request.kind != qp::RingKind::records ||
            l.response.kind != qp::RingKind::records) {
          throw msg::error("buddy-engine: segment '" + name + "' is not a buddy::msg segment");
        }
        return s;
      }
      last = "created by pid " + std::to_string(creator) + ", not by the rank";
    } catch (const qp::Error& e) {
      last = e.what();
    }
    if (base::monotonic_ns() > deadline) {
      throw msg::error("buddy-engine: app rank " + std::to_string(r) + "'s segment '" + name +
                       "' did not appear (" + last + ")");
    }
    ::usleep(1000);
  }
}

}  // namespace

std::string engine_stats::json(int engine, int node, int ranks) const {
  base::json::Writer w;
  w.begin_object().member("engine", engine).member("node", node).member("ranks", ranks);
  base::write_fields(w, *this);
  w.member("threads", thread_cpu_s.size()).key("thread_cpu_s").begin_array();
  for (double t : thread_cpu_s) w.value(base::json::Fixed{t, 4});
  return w.end_array().end_object().take();
}

engine::engine(const off::job& job, const engine_options& opts) : job_(job), opts_(opts) {
  const int me = job_.group_rank;
  const auto n = static_cast<std::size_t>(job_.app_count);
  map_.app_count = static_cast<std::uint32_t>(job_.app_count);
  map_.owner.assign(n * off::channels, -1);
  map_.inbound.assign(n * off::channels, nullptr);
  for (int r = 0; r < job_.app_count; ++r) {
    if (job_.engine_of[static_cast<std::size_t>(r)] != me) continue;
    auto s = std::make_unique<served>(r, attach_rank(job_, r));
    s->ctl = &off::control_of(s->seg);
    for (std::uint32_t c = 0; c < off::channels; ++c) {
      s->out[c] = s->seg.request_consumer<qp::Record>(c);
      s->in[c] = delivery(s->seg.response_producer<qp::Record>(c));
    }
    served_.push_back(std::move(s));
  }
  // Lanes (rank x channel) to threads: lane L = channel x served + i goes to thread
  // T - 1 - L mod T, so the channel-0 lanes (the busy ones) spread first and, with one rank,
  // its channel 0 is served by a thread that does not do MPI. More threads than lanes would idle.
  const std::size_t lanes = served_.size() * off::channels;
  const std::size_t threads =
      std::max<std::size_t>(1, std::min(static_cast<std::size_t>(opts_.threads), lanes));
  for (std::size_t t = 0; t < threads; ++t) {
    shards_.push_back(std::make_unique<shard>(static_cast<int>(t), map_));
  }
  for (std::size_t i = 0; i < served_.size(); ++i) {
    served& s = *served_[i];
    for (std::uint32_t c = 0; c < off::channels; ++c) {
      const std::size_t lane = c * served_.size() + i;
      const std::size_t t = threads - 1 - lane % threads;
      const std::size_t id = c * n + static_cast<std::size_t>(s.rank);
      map_.owner[id] = static_cast<int>(t);
      map_.inbound[id] = &s.in[c];
    }
  }
  for (std::size_t i = 0; i < served_.size(); ++i) {
    served& s = *served_[i];
    for (std::uint32_t c = 0; c < off::channels; ++c) {
      const std::size_t id = c * n + static_cast<std::size_t>(s.rank);
      shards_[static_cast<std::size_t>(map_.owner[id])]->add_lane(s.rank, c, &s.out[c]);
    }
  }
  handoffs_.resize(threads * threads);
  for (std::size_t from = 0; from < threads; ++from) {
    for (std::size_t to = 0; to < threads; ++to) {
      if (from != to) handoffs_[from * threads + to] = std::make_unique<handoff>();
    }
  }
  for (std::size_t t = 0; t < threads; ++t) {
    std::vector<handoff*> to(threads), from(threads);
    for (std::size_t u = 0; u < threads; ++u) {
      to[u] = handoffs_[t * threads + u].get();
      from[u] = handoffs_[u * threads + t].get();
    }
    shards_[t]->connect(std::move(to), std::move(from));
  }
  shards_[0]->set_remote(&engine::to_router, this);

  // Destination ids on the engines' wire: channel * app ranks + rank.
  const msg::layout lay(me, job_.engine_node);
  const std::vector<int> engine_hop = lay.route_table(opts_.msg.route);
  std::vector<int> next_hop(n * off::channels);
  for (std::size_t d = 0; d < next_hop.size(); ++d) {
    next_hop[d] = engine_hop[static_cast<std::size_t>(job_.engine_of[d % n])];
  }
  const std::set<int> hops(next_hop.begin(), next_hop.end());
  router_ = std::make_unique<msg::router>(job_.group, std::move(next_hop),
                                          std::vector<int>(hops.begin(), hops.end()),
                                          opts_.buffer_kb * 1024, opts_.max_sends);
  router_->set_drain_hook(&engine::drain, this);
  // Claiming a rank's segment tells the rank its engine is there (and starts its heartbeat).
  for (auto& s : served_) {
    s->ctl->engine_index.store(static_cast<std::uint32_t>(me), std::memory_order_relaxed);
    try {
      s->claim = s->seg.claim_attacher();
    } catch (const qp::Error& e) {
      throw msg::error("buddy-engine: app rank " + std::to_string(s->rank) + ": " + e.what());
    }
  }
}

engine::~engine() {
  stop_workers();
  // Segments of ranks that died (a crashed run) would stay in /dev/shm: remove their names.
  for (auto& s : served_) {
    if (!s->seg.alive(qp::Side::creator)) qp::Segment::remove(s->seg.name());
  }
}

void engine::stop_workers() {
  stop_.store(true, std::memory_order_release);
  for (auto& w : workers_) {
    if (w.joinable()) w.join();
  }
  workers_.clear();
}

void engine::beat(bool force) {
  const std::uint64_t now = base::monotonic_ns();
  if (!force && now - last_beat_ns_ < 1'000'000ull) return;
  last_beat_ns_ = now;
  // The heartbeat is as old as the least recent thread's: a hung thread of any kind makes it
  // stop, so the ranks notice a hung engine whichever thread hangs.
  std::uint64_t stamp = now;
  for (std::size_t t = 1; t < shards_.size(); ++t) {
    stamp = std::min(stamp, thread_beat_[t].load(std::memory_order_acquire));
  }
  for (auto& s : served_) s->claim.beat(stamp);
  if (now >= next_check_ns_) {
    next_check_ns_ = now + 200'000'000ull;
    check_ranks();
  }
}

void engine::check_ranks() {
  for (auto& s : served_) {
    if (s->ctl->app_done.load(std::memory_order_acquire) == 0 && !s->claim.peer_alive()) {
      throw msg::error("buddy-engine: app rank " + std::to_string(s->rank) + " (pid " +
                       std::to_string(s->seg.holder(qp::Side::creator).pid) +
                       ") died before finishing");
    }
  }
}

// A worker thread failed: stop the others and report its error on the MPI thread.
void engine::check_workers() {
  if (!worker_failed_.load(std::memory_order_acquire)) return;
  stop_workers();
  std::exception_ptr e;
  {
    std::lock_guard<std::mutex> lock(error_mutex_);
    e = worker_error_;
  }
  std::rethrow_exception(e);
}

bool engine::all_done() const {
  return std::all_of(served_.begin(), served_.end(), [](const auto& s) {
    return s->ctl->app_done.load(std::memory_order_acquire) != 0;
  });
}

void engine::to_router(void* self, std::uint32_t dest, std::uint32_t length,
                       const std::byte* payload) {
  auto* e = static_cast<engine*>(self);
  std::byte* p = e->router_->reserve(static_cast<int>(dest), length);
  if (length != 0) std::memcpy(p, payload, length);
}

bool engine::process_inbox() {
  const base::reentry_guard guard(in_inbox_);
  if (!guard.entered()) return false;
  const auto ids = static_cast<std::uint32_t>(map_.owner.size());
  bool any = false;
  msg::buffer b;
  while (router_->pop_inbox(b)) {
    any = true;
    msg::wire::for_each_record(b.data.get(), b.size, ids, [&](const msg::wire::record& r) {
      if (map_.owner[r.dest] >= 0) {
        ++stats_.records_from_mpi;
        shards_[0]->accept(r.dest, r.length, r.payload);  // its lane or its thread's handoff
      } else {
        router_->forward(r);  // nr / nlnr among engines
      }
    });
    router_->recycle(std::move(b));
  }
  return any;
}

bool engine::drain(void* self) {
  auto* e = static_cast<engine*>(self);
  const bool any = e->process_inbox();
  e->shards_[0]->retry_deliveries();
  e->shards_[0]->flush_handoffs();
  e->beat(false);
  e->check_workers();
  return any;
}

// A thread that does no MPI: drains and delivers its lanes until the MPI thread says stop.
void engine::worker(std::size_t index) {
  shard& sh = *shards_[index];
  const double cpu0 = thread_cpu_now();
  try {
    qp::Backoff backoff(engine_backoff);
    std::uint64_t last_beat = 0;
    while (!stop_.load(std::memory_order_acquire)) {
      const bool took = sh.drain_rings();
      bool worked = sh.take_handoffs();
      worked = sh.retry_deliveries() || worked;
      worked = sh.flush_handoffs() || worked;
      const std::uint64_t now = base::monotonic_ns();
      if (now - last_beat >= 1'000'000ull) {
        last_beat = now;
        thread_beat_[index].store(now, std::memory_order_release);
      }
      if (took || worked) {
        backoff.reset();
      } else {
        backoff.pause();
      }
    }
  } catch (...) {
    {
      std::lock_guard<std::mutex> lock(error_mutex_);
      worker_error_ = std::current_exception();
    }
    worker_failed_.store(true, std::memory_order_release);
  }
  sh.counters().cpu_s = thread_cpu_now() - cpu0;
}

void engine::run() {
  const double cpu0 = cpu_now();
  const double thread0 = thread_cpu_now();
  const double wall0 = msg::now_s();
  thread_beat_ = std::make_unique<std::atomic<std::uint64_t>[]>(shards_.size());
  for (std::size_t t = 0; t < shards_.size(); ++t) thread_beat_[t].store(base::monotonic_ns());
  for (std::size_t t = 1; t < shards_.size(); ++t) workers_.emplace_back(&engine::worker, this, t);
  struct joiner {
    engine& e;
    ~joiner() { e.stop_workers(); }
  } join_on_exit{*this};
  shard& sh = *shards_[0];
  qp::Backoff backoff(engine_backoff);
  MPI_Request finish = MPI_REQUEST_NULL;
  bool finishing = false;
  int idle_passes = 0;
  for (;;) {
    bool took = sh.drain_rings();
    took = sh.take_handoffs() || took;  // the other threads' records count as taken
    bool worked = router_->poll();
    worked = process_inbox() || worked;
    worked = sh.retry_deliveries() || worked;
    worked = sh.flush_handoffs() || worked;
    // Aggregation: a buffer leaves when full, or once the rings have nothing more for it.
    if (!took && ++idle_passes >= 2) {
      idle_passes = 0;
      worked = router_->flush_all() || worked;
    }
    if (took) idle_passes = 0;
    beat(false);
    check_workers();
    // Every app rank finished (a rank finishes only after its last barrier, so nothing is in
    // flight anywhere: no ring, handoff, holdback or MPI message holds a record); engines leave
    // together, serving relays until then.
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
  stop_workers();
  check_workers();
  sh.counters().cpu_s = thread_cpu_now() - thread0;
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
  for (const auto& sh : shards_) {
    const shard_stats& c = sh->counters();
    s.records_in += c.records_in;
    s.bytes_in += c.bytes_in;
    s.records_local += c.records_local;
    s.records_remote += c.records_remote;
    s.records_delivered += c.records_delivered;
    s.records_handed += c.records_handed;
    s.max_waiting_batches = std::max(s.max_waiting_batches, c.max_waiting_batches);
    s.thread_cpu_s.push_back(c.cpu_s);
  }
  s.net = router_->counters();
  return s;
}

}  // namespace buddy::msg_engine
