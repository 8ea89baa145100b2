// One side of a buddykv server (the host, or the engine) as serving threads: the one place that
// turns a Placement's threads of one side into running workers. For each thread of the side it
// binds the transport (full and CE threads serve a port), builds the worker (FullWorker, CeWorker
// or PeWorker over the side's store and the segment's queue pairs), points it at its counter slot
// and runs it on a measured thread. The host (kv/server) and the engine (kv/engine, what
// buddykv-engine runs) differ only in what they pass in (SideResources): their store, the ports to
// bind, and where counters go (the host's own slots; the engine's in the engine control block, so
// that the host reads them across processes).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/kv/serving/ce_worker.hpp"
#include "buddy/kv/serving/full_worker.hpp"
#include "buddy/kv/serving/measured_thread.hpp"
#include "buddy/kv/serving/pe_worker.hpp"
#include "buddy/kv/serving/placement.hpp"
#include "buddy/kv/serving/stats.hpp"
#include "buddy/kv/serving/store_settings.hpp"
#include "buddy/kv/serving/transport_factory.hpp"
#include "buddy/kv/serving/worker_config.hpp"
#include "buddy/kv/store/store.hpp"
#include "buddy/kv/wire/linked_transport.hpp"

namespace buddy::kv::serving {

// The store of side s: the partitions the placement puts there (nullopt when it holds none).
std::optional<kv::StoreConfig> side_store_config(const Placement& p, Side s,
                                                 const StoreSettings& st);
// That store built, or null when the side holds no partition. Throws kv::Error on a bad config.
std::unique_ptr<Store> make_side_store(const Placement& p, Side s, const StoreSettings& st);

// What a side's threads are built from.
struct SideResources {
  Store* store = nullptr;           // full and PE threads' partitions (null: the side holds none)
  queue::KvQueue* queue = nullptr;  // CE and PE threads' queue pairs (null: no pairs)
  TransportFactory factory;         // full and CE threads' transports
  // The port the side's k-th thread binds (missing or 0: any free port; PEs bind none).
  std::span<const std::uint16_t> ports;
  // The counter slot of the side's k-th thread; empty: each thread has its own.
  std::function<SharedCounters&(std::size_t k)> counters;
  WorkerConfig worker;
  std::size_t max_datagram = wire::kDefaultDatagram;
  // The queue pairs' epoch PE threads follow (PeWorker::follow_epoch); null: they never reset.
  const std::atomic<std::uint32_t>* queue_epoch = nullptr;
  // The side's first port-serving thread (full or CE) gets a LinkedTransport around its socket,
  // so that a client on its thread (the memcached front end) can reach it in-process.
  bool link_first = false;
};

// One serving thread: its plan, transport, worker and counters.
class ServingThread {
 public:
  // plan: a thread of p, the side's k-th.
  // link: wrap its transport in a LinkedTransport (a full or CE thread only).
  ServingThread(const Placement& p, const ThreadPlan& plan, std::size_t k, const SideResources& r,
                bool link = false);
  ServingThread(const ServingThread&) = delete;
  ServingThread& operator=(const ServingThread&) = delete;
  ~ServingThread() { join(); }

  void start(const std::atomic<bool>& stop);  // runs the worker (or the hosted loop) until stop
  void join() { thread_.join(); }

  // The in-process entrance of its port (null unless built with link).
  wire::LinkedTransport* link() noexcept { return link_; }
  // Before start(): run body on this thread in place of the worker's loop; body serves the
  // worker itself through step() (the memcached front end does, docs/memcached.md).
  void host(std::function<void(const std::atomic<bool>&)> body) { hosted_ = std::move(body); }
  // One step of the full or CE worker (see their step()); only on the thread that runs it.
  bool step(std::chrono::microseconds wait);
  // A CE with bursts in flight at its PE: it needs stepping until their answers are sent.
  bool busy() const noexcept { return ce_ && ce_->in_flight() > 0; }

  const ThreadPlan& plan() const noexcept { return plan_; }
  std::uint16_t port() const noexcept;  // the UDP port it serves (0: a PE, no port)
  Counters counters() const noexcept { return shared_->read(); }
  double cpu_s() const noexcept { return thread_.cpu_s(); }
  // A PE's queue-pair epoch (PeWorker::epoch); other threads have no pairs of their own: `e`.
  std::uint32_t queue_epoch(std::uint32_t e) const noexcept { return pe_ ? pe_->epoch() : e; }
  // Wakes its PE if it sleeps on its doorbell (after a stop or an epoch change); nothing for a
  // thread that was never started (its queue pairs' segment may be gone already).
  void wake() noexcept {
    if (pe_ && thread_.joinable()) pe_->wake();
  }

 private:
  ThreadPlan plan_;
  std::unique_ptr<wire::BurstTransport> transport_;
  wire::LinkedTransport* link_ = nullptr;  // transport_, when it is linked
  std::function<void(const std::atomic<bool>&)> hosted_;
  SharedCounters own_;
  SharedCounters* shared_;
  std::unique_ptr<FullWorker> full_;
  std::unique_ptr<CeWorker> ce_;
  std::unique_ptr<PeWorker> pe_;
  MeasuredThread thread_;
};

// Every serving thread of one side of a placement, in placement order.
class ServingSide {
 public:
  // Builds every thread (binds each port, makes each worker); nothing runs before start(). Throws
  // std::runtime_error (one line) when a port cannot be bound or a resource is missing.
  ServingSide(const Placement& p, Side side, const SideResources& r);
  ServingSide(const ServingSide&) = delete;
  ServingSide& operator=(const ServingSide&) = delete;
  ~ServingSide() { stop(); }

  void start();
  void stop();  // idempotent: every worker stops, every thread is joined

  Side side() const noexcept { return side_; }
  std::size_t size() const noexcept { return threads_.size(); }
  const ServingThread& thread(std::size_t k) const { return *threads_[k]; }
  ServingThread& thread(std::size_t k) { return *threads_[k]; }
  ServingThread* linked() noexcept;  // the thread built with a link (null: none)
  double cpu_s() const noexcept;     // the side's threads, summed
  // Whether every PE thread has emptied its queue pairs for epoch `e` (PeWorker::follow_epoch);
  // wakes those still behind (they may sleep on their doorbell): call it until it is true.
  bool queues_at(std::uint32_t e) const noexcept;

 private:
  Side side_;
  std::vector<std::unique_ptr<ServingThread>> threads_;
  std::atomic<bool> stop_{false};
};

}  // namespace buddy::kv::serving
