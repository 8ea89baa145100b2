#include "buddy/kv/engine/engine_runtime.hpp"

#include <stdexcept>
#include <thread>

namespace buddy::kv::engine {

using namespace queue;
using namespace serving;

EngineRuntime::EngineRuntime(KvQueue& q, TransportFactory factory)
    : q_(q),
      claim_(q.segment().claim_attacher()),
      block_(EngineBlock::attach(q.segment().extra().data(), q.segment().extra().size())),
      factory_(std::move(factory)) {
  placement_ = place(block_->plan.config());
  if (!factory_) factory_ = udp_factory(block_->plan.bind_address());
}

EngineRuntime::~EngineRuntime() {
  if (side_) side_->stop();
}

void EngineRuntime::start() {
  try {
    const EnginePlan& plan = block_->plan;
    held_ = placement_.partitions_on(Side::engine);
    store_ = make_side_store(placement_, Side::engine, plan.store());
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
    side_ = std::make_unique<ServingSide>(placement_, Side::engine, r);
    for (std::size_t k = 0; k < side_->size(); ++k) {
      block_->threads[k].port.store(side_->thread(k).port());
    }
    side_->start();
  } catch (const std::exception& e) {
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
  if (side_) side_->stop();
  publish();
  block_->state.store(static_cast<std::uint32_t>(EngineState::exited));
  return host_alive;
}

}  // namespace buddy::kv::engine
