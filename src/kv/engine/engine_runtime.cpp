#include "buddy/kv/engine/engine_runtime.hpp"

#include <stdexcept>
#include <thread>

namespace buddy::kv::engine {

using namespace queue;
using namespace serving;

EngineRuntime::EngineRuntime(KvQueue& q, TransportFactory factory)
    : q_(q),
      claim_(q.segment().claim_attacher()),
      block_(EngineBlock::attach(q.extra().data(), q.extra().size())),
      factory_(std::move(factory)) {
  placement_ = place(block_->plan.config());
  if (!factory_) factory_ = udp_factory(block_->plan.bind_address());
}

EngineRuntime::~EngineRuntime() {
  stop_threads();
}

// The front end first (it is a client of the serving threads), then the serving threads.
void EngineRuntime::stop_threads() {
  memcached_stop_.store(true);
  if (memcached_thread_.joinable()) memcached_thread_.join();
  if (side_) side_->stop();
}

// The memcached front end, when the host asked for one: the partition map from the placement,
// the host's ports from the block and the engine threads' own.
void EngineRuntime::start_memcached() {
  EngineMemcached& m = block_->memcached;
  if (m.port < 0) return;
  if (m.port > 65535 || m.map_ports != placement_.port_thread.size() ||
      m.map_ports > kMaxMapPorts) {
    throw std::runtime_error("memcached: the block's port or partition map does not fit");
  }
  MemcachedConfig mc;
  mc.bind = block_->plan.bind_address();
  mc.port = static_cast<std::uint16_t>(m.port);
  mc.max_connections = m.max_connections;
  mc.map.partitions = placement_.partitions;
  mc.map.max_datagram = block_->plan.max_datagram;
  mc.map.owner = placement_.partition_port;
  mc.map.ports.assign(m.host_ports.begin(), m.host_ports.begin() + m.map_ports);
  for (std::size_t k = 0; k < side_->size(); ++k) {
    const ThreadPlan& t = side_->thread(k).plan();
    if (t.port >= 0) mc.map.ports[t.port] = side_->thread(k).port();
  }
  if (std::string why = mc.map.validate(); !why.empty()) {
    throw std::runtime_error("memcached: " + why);
  }
  mc.host = side_->linked();
  memcached_ = std::make_unique<MemcachedFrontEnd>(mc);
  m.bound_port.store(memcached_->port());
  if (mc.host != nullptr) {  // on the first CE (or full) thread, in-process
    mc.host->host([fe = memcached_.get()](const std::atomic<bool>& stop) { fe->run(stop); });
  } else {
    memcached_thread_ = std::thread([this] { memcached_->run(memcached_stop_); });
  }
}

void EngineRuntime::start() {
  try {
    const EnginePlan& plan = block_->plan;
    held_ = placement_.partitions_on(Side::engine);
    if (auto sc = side_store_config(placement_, Side::engine, plan.store())) {
      if (!store_segment_.empty() && sc->mode == Mode::store) {
        sc->segment = store_segment_;
        sc->segment_attach = block_->epoch.load() > 1;  // a restarted engine
      }
      store_ = std::make_unique<Store>(*sc);
    }
    if (placement_.count(Side::engine) > kMaxEngineThreads) {
      throw std::runtime_error("too many engine threads");
    }
    // The engine's counters go to its threads' slots in the block, where the host reads them.
    SideResources r;
    r.store = store_.get();
    r.queue = &q_;
    r.factory = factory_;
    r.ports = plan.ports;
    r.counters = [this](std::size_t k) -> SharedCounters& { return block_->threads[k].counters; };
    r.worker = plan.worker();
    r.max_datagram = plan.max_datagram;
    r.link_first = block_->memcached.port >= 0;  // the front end runs on the first CE's thread
    side_ = std::make_unique<ServingSide>(placement_, Side::engine, r);
    for (std::size_t k = 0; k < side_->size(); ++k) {
      block_->threads[k].port.store(side_->thread(k).port());
    }
    start_memcached();
    side_->start();
  } catch (const std::exception& e) {
    stop_threads();
    side_.reset();
    block_->fail(e.what());
    throw std::runtime_error(e.what());
  }
  publish();
  block_->engine_epoch.store(block_->epoch.load());
  block_->state.store(static_cast<std::uint32_t>(EngineState::ready));
}

void EngineRuntime::publish() {
  claim_.beat();
  for (std::size_t k = 0; side_ && k < side_->size(); ++k) {
    block_->threads[k].cpu_ns.store(static_cast<std::uint64_t>(side_->thread(k).cpu_s() * 1e9),
                                    std::memory_order_relaxed);
  }
  if (memcached_) block_->memcached.counters.publish(memcached_->counters());
  if (store_) {
    block_->publish_store(store_->stats());
    for (std::uint32_t p : held_) {
      block_->partition_items[p].store(store_->partition(p).stats().items,
                                       std::memory_order_relaxed);
    }
  }
}

bool EngineRuntime::serve(const std::atomic<bool>& stop, double host_timeout_s) {
  bool host_alive = true;
  std::uint32_t tick = 0;
  while (!stop.load() && block_->stop.load() == 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    publish();
    // The host: its process must run and its heartbeat be fresh (checked every ~100 ms).
    if (++tick % 10 == 0 &&
        (!claim_.peer_alive() ||
         std::chrono::duration<double>(claim_.peer_heartbeat_age()).count() > host_timeout_s)) {
      host_alive = false;
      break;
    }
  }
  stop_threads();
  publish();
  block_->state.store(static_cast<std::uint32_t>(EngineState::exited));
  return host_alive;
}

}  // namespace buddy::kv::engine
