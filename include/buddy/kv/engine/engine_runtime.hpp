// The engine side of an offloaded buddykv server: what `buddykv-engine --attach NAME` runs (as a
// process of its own, as it would on a DPU) or the server runs on a thread (--engine-in-process,
// and tests). It attaches only through the server's segment: it reads the plan from the engine
// control block, recomputes the placement, builds its store (engine-only, shrd), binds its ports,
// runs its threads (serving::ServingSide: CE workers feeding host PEs over KV queue pairs, or full
// workers) and, when the block asks for it, the memcached front end (serving::MemcachedFrontEnd
// on its first serving thread, handing that thread's port its requests in-process, a client of
// the other serving ports over UDP, like on the host in cpu-only), and
// publishes its state, counters and CPU time back into the block. It holds the
// segment's attacher side (qp liveness) for as long as it lives, beating it; one engine per
// segment. An engine process keeps its store in a named store (keep_store_in: a shared-memory
// segment that outlives it, docs/store.md): the first engine of a server makes it, a restarted
// one (the block's epoch > 1) re-attaches to it, so a killed engine loses no acknowledged write.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "buddy/kv/engine/engine_block.hpp"
#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/kv/serving/placement.hpp"
#include "buddy/kv/serving/side.hpp"
#include "buddy/kv/serving/transport_factory.hpp"
#include "buddy/kv/store/store.hpp"

namespace buddy::kv::engine {

// The named store of the engine of server segment `segment`.
inline std::string store_segment_name(const std::string& segment) {
  return segment + ".store";
}

class EngineRuntime {
 public:
  // q: the server's segment, attached. factory: the engine's transports (default: UDP on the
  // plan's bind address). Claims the segment's attacher side first: throws qp::AlreadyAttached
  // (one line, the holder's pid) while another live engine holds it, and touches nothing then.
  // Throws std::runtime_error (one line) if the block is unusable.
  explicit EngineRuntime(queue::KvQueue& q, serving::TransportFactory factory = {});
  ~EngineRuntime();
  EngineRuntime(const EngineRuntime&) = delete;
  EngineRuntime& operator=(const EngineRuntime&) = delete;

  // Before start(): keep the engine's store (store mode) in the named store `segment`, made by
  // the first engine and re-attached to by a restarted one (the block's epoch > 1): a missing
  // or unusable one then fails start() with its one line.
  void keep_store_in(std::string segment) { store_segment_ = std::move(segment); }
  const Store* store() const noexcept { return store_.get(); }

  // Builds the store, binds every port and starts the threads, then marks the block ready. On
  // failure marks it failed with the reason and throws std::runtime_error.
  void start();
  // Beats and publishes figures until the block's stop flag, `stop`, or the host's death (its
  // process gone or its heartbeat older than host_timeout_s); then stops the threads, publishes
  // the final figures and marks the block exited. Returns false if it stopped because the host
  // died.
  bool serve(const std::atomic<bool>& stop, double host_timeout_s = 10.0);
  // The claim: replaced() names a stale engine whose attacher record this one took over.
  const qp::AttachClaim& claim() const { return claim_; }

 private:
  void publish();
  void start_memcached();
  void stop_threads();

  queue::KvQueue& q_;
  qp::AttachClaim claim_;
  EngineBlock* block_;
  serving::TransportFactory factory_;
  serving::Placement placement_;
  std::string store_segment_;
  std::unique_ptr<Store> store_;
  std::vector<std::uint32_t> held_;
  std::unique_ptr<serving::ServingSide> side_;
  std::unique_ptr<serving::MemcachedFrontEnd> memcached_;
  std::thread memcached_thread_;
  std::atomic<bool> memcached_stop_{false};
};

}  // namespace buddy::kv::engine
