#include "buddy/kv/serving/pe_worker.hpp"

#include "buddy/qp/backoff.hpp"

namespace buddy::kv::serving {

using namespace queue;

PeWorker::PeWorker(ProcessingEngine pe, std::vector<KvPeEnd> queues, SharedCounters& shared,
                   WorkerConfig cfg)
    : pe_(std::move(pe)), queues_(std::move(queues)), shared_(shared), cfg_(cfg) {}

void PeWorker::follow_epoch(const std::atomic<std::uint32_t>* wanted, KvQueue* q,
                            std::vector<std::uint32_t> pairs) {
  wanted_ = wanted;
  q_ = q;
  pairs_ = std::move(pairs);
  epoch_.store(wanted_ != nullptr ? wanted_->load(std::memory_order_acquire) : 0);
}

void PeWorker::reset_pairs(std::uint32_t to) {
  for (std::size_t i = 0; i < pairs_.size() && i < queues_.size(); ++i) {
    q_->reset_pair(pairs_[i]);
    queues_[i] = q_->pe(pairs_[i]);
  }
  epoch_.store(to, std::memory_order_release);
}

std::size_t PeWorker::step() {
  if (wanted_ != nullptr) {
    const std::uint32_t want = wanted_->load(std::memory_order_acquire);
    if (want != epoch_.load(std::memory_order_relaxed)) reset_pairs(want);
  }
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
  // exist to save, and on a shared core it slows the CE and the clients down. It polls for
  // kSpinNs of wall time (about what 64 steps took with a 0.55 us clock syscall each; by the step's
  // own clock mark: no extra clock read), yields 4 times, then sleeps 10..100 us (timer slack
  // included) so that the next batch waits little. The spin is timed, not counted: a counted spin
  // got 10x shorter when the steps stopped making a clock system call, and at low load p50 latency
  // tripled (30 -> 95 us, sav, window 16).
  constexpr std::uint64_t kSpinNs = 50'000;
  qp::Backoff idle(
      qp::BackoffConfig{.spins = 0, .yields = 4, .min_sleep_us = 10, .max_sleep_us = 100});
  std::uint64_t idle_since = 0;  // the first empty step's clock mark; 0: not idle
  std::uint32_t idle_publish = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    if (step() != 0) {
      clock_.settle_every(c_);
      shared_.publish(c_);
      idle.reset();
      idle_since = 0;
      continue;
    }
    if (idle_since == 0) idle_since = clock_.last_lap();
    if (clock_.last_lap() - idle_since < kSpinNs) {
      qp::cpu_relax();
    } else {
      idle.pause();
      clock_.lap(c_, Stage::idle);  // a sleep's wall time is not the next batch's
    }
    if (++idle_publish % 256 == 0) {
      clock_.settle_every(c_);
      shared_.publish(c_);
    }
  }
  clock_.settle(c_);
  shared_.publish(c_);
}

}  // namespace buddy::kv::serving
