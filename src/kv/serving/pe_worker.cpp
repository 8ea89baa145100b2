#include "buddy/kv/serving/pe_worker.hpp"

#include "buddy/qp/backoff.hpp"

namespace buddy::kv::serving {

using namespace queue;

PeWorker::PeWorker(ProcessingEngine pe, std::vector<KvPeEnd> queues, SharedCounters& shared,
                   WorkerConfig cfg)
    : pe_(std::move(pe)), queues_(std::move(queues)), shared_(shared), cfg_(cfg) {}

std::size_t PeWorker::step() {
  std::size_t served = 0;
  for (KvPeEnd& q : queues_) {
    // An empty batch still publishes: answers spilled earlier move into the ring once the CE
    // made room.
    served += serve_batch(pe_, q, cfg_.pe_batch, results_, arena_);
  }
  c_.processed += served;
  c_.replayed = pe_.replayed() + pe_.superseded();
  clock_.lap(c_, served != 0 ? Stage::process : Stage::idle);
  return served;
}

void PeWorker::run(const std::atomic<bool>& stop) {
  clock_.restart();
  // An idle PE polls briefly, then sleeps: its polling is host CPU that the offloaded designs
  // exist to save, and on a shared core it slows the CE and the clients down. Sleeps stay short
  // (10..100 us, timer slack included) so that the next batch waits little.
  qp::Backoff idle(
      qp::BackoffConfig{.spins = 64, .yields = 4, .min_sleep_us = 10, .max_sleep_us = 100});
  std::uint32_t idle_publish = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    if (step() != 0) {
      shared_.publish(c_);
      idle.reset();
      continue;
    }
    idle.pause();
    if (++idle_publish % 256 == 0) shared_.publish(c_);
  }
  shared_.publish(c_);
}

}  // namespace buddy::kv::serving
