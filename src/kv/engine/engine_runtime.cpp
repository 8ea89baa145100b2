#include "buddy/kv/engine/engine_runtime.hpp"

#include <stdexcept>
#include <thread>

namespace buddy::kv::engine {

using namespace queue;
using namespace serving;

struct EngineRuntime::Thread {
  EngineThreadSlot* slot = nullptr;
  int cpu = -1;
  std::unique_ptr<wire::BurstTransport> transport;
  std::unique_ptr<FullWorker> full;
  std::unique_ptr<CeWorker> ce;
  MeasuredThread thread;
};

EngineRuntime::EngineRuntime(KvQueue& q, TransportFactory factory)
    : q_(q),
      claim_(q.segment().claim_attacher()),
      block_(EngineBlock::attach(q.segment().extra().data(), q.segment().extra().size())),
      factory_(std::move(factory)) {
  placement_ = place(block_->plan.config());
  if (!factory_) {
    factory_ = udp_factory(std::string(
        block_->plan.bind.data(), strnlen(block_->plan.bind.data(), block_->plan.bind.size())));
  }
}

EngineRuntime::~EngineRuntime() {
  stop_threads();
}

void EngineRuntime::start() {
  try {
    const EnginePlan& plan = block_->plan;
    held_ = placement_.partitions_on(Side::engine);
    if (!held_.empty()) {
      StoreConfig sc;
      sc.mode = static_cast<kv::Mode>(plan.mode);
      sc.memory_bytes = plan.memory_bytes;
      sc.partitions = placement_.partitions;
      sc.expected_items = plan.expected_items;
      if (held_.size() != placement_.partitions) sc.only = held_;
      store_ = std::make_unique<Store>(sc);
    }
    const WorkerConfig wc = plan.worker();
    std::size_t k = 0;  // engine thread index
    for (const ThreadPlan& tp : placement_.threads) {
      if (tp.side != Side::engine) continue;
      if (k >= kMaxEngineThreads) throw std::runtime_error("too many engine threads");
      auto th = std::make_unique<Thread>();
      th->slot = &block_->threads[k];
      th->cpu = tp.cpu;
      th->transport = factory_(plan.ports[k]);
      th->slot->port.store(th->transport->local().port);
      Ownership own;
      own.partitions = placement_.partitions;
      own.mine.assign(placement_.partitions, false);
      for (std::uint32_t p : tp.partitions) own.mine[p] = true;
      CommEngine ce(std::move(own), plan.max_datagram);
      if (tp.role == Role::full) {
        th->full = std::make_unique<FullWorker>(*th->transport, std::move(ce),
                                                ProcessingEngine(*store_, tp.partitions),
                                                th->slot->counters, wc);
      } else {
        th->ce = std::make_unique<CeWorker>(*th->transport, std::move(ce),
                                            q_.ce(static_cast<std::uint32_t>(tp.pair)),
                                            th->slot->counters, wc);
      }
      threads_.push_back(std::move(th));
      ++k;
    }
    for (auto& owned : threads_) {
      Thread* th = owned.get();
      th->thread.start(th->cpu, [this, th] {
        if (th->full) {
          th->full->run(stop_workers_);
        } else {
          th->ce->run(stop_workers_);
        }
      });
    }
  } catch (const std::exception& e) {
    stop_threads();
    block_->fail(e.what());
    throw std::runtime_error(e.what());
  }
  publish();
  block_->state.store(static_cast<std::uint32_t>(EngineState::ready));
}

void EngineRuntime::publish() {
  claim_.beat();
  for (const auto& th : threads_) {
    th->slot->cpu_ns.store(static_cast<std::uint64_t>(th->thread.cpu_s() * 1e9),
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
  stop_threads();
  publish();
  block_->state.store(static_cast<std::uint32_t>(EngineState::exited));
  return host_alive;
}

void EngineRuntime::stop_threads() {
  stop_workers_.store(true);
  for (auto& th : threads_) th->thread.join();
}

}  // namespace buddy::kv::engine
