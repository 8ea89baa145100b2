#include "buddy/kv/serving/pe_worker.hpp"

#include "buddy/kv/serving/spin_budget.hpp"
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

void PeWorker::use_doorbells(qp::Doorbell* sleep_on, std::vector<qp::Doorbell*> ring) {
  bell_ = sleep_on;
  ring_ = std::move(ring);
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
  for (std::size_t i = 0; i < queues_.size(); ++i) {
    KvPeEnd& q = queues_[i];
    // An empty batch still publishes: answers spilled earlier move into the ring once the CE
    // made room.
    const bool spilled = q.spilled();
    const std::size_t n = serve_batch(pe_, q, cfg_.pe_batch, results_, arena_);
    // Answers published: wake the CE if it sleeps on them (a load when it does not).
    if ((n != 0 || spilled) && i < ring_.size()) qp::ring(*ring_[i]);
    served += n;
  }
  c_.processed += served;
  c_.replayed = pe_.replayed() + pe_.superseded();
  clock_.lap(c_, served != 0 ? Stage::process : Stage::idle);
  return served;
}

void PeWorker::run(const std::atomic<bool>& stop) {
  clock_.restart();
  // An idle PE polls briefly, then sleeps: its polling is host CPU that the offloaded designs
  // exist to save, and on a shared core it slows the CE and the clients down. It polls for a
  // while of wall time (by the step's own clock mark: no extra clock read), then sleeps on its
  // doorbell until a CE rings it (qp/doorbell.hpp: it announces the sleep, looks at stop and
  // polls once more, then waits in FUTEX_WAIT). The wait has no timeout: a timed FUTEX_WAIT costs
  // this VM about 8 us more of the sleeper's CPU (its timer), on top of the 20-30 us a sleep and
  // its wake-up cost; so whoever sets stop or moves the epoch on rings the bell after
  // (ServingSide::stop, queues_at: wake()). The look at stop after the announcement is what makes
  // that ring safe (a stop set before it is seen; one set after it finds the bell announced). A
  // dead CE costs nothing: the PE sleeps until the epoch moves on. Without a doorbell (or while
  // answers wait in the spill buffer for the CE to make room, which the CE does not ring for) it
  // yields 4 times, then sleeps 10..100 us.
  //
  // How long it polls adapts (SpinBudget): a gap that ended while it polled doubles the budget
  // (up to 16 us), one it had to sleep through halves it (down to 0.5 us). At full load most gaps
  // between batches are a client's and a CE's turn on their core (hundreds of us), so the budget
  // sits at its floor; bursts that come a few us apart keep it up (docs/kv-designs.md, "Idle
  // polling and the doorbell").
  SpinBudget spin;
  qp::Backoff idle(
      qp::BackoffConfig{.spins = 0, .yields = 4, .min_sleep_us = 10, .max_sleep_us = 100});
  std::uint64_t idle_since = 0;  // the first empty step's clock mark; 0: not idle
  bool slept = false;            // this idle gap was slept through (at least once)
  std::uint32_t idle_publish = 0;
  const auto spilling = [this] {
    for (const KvPeEnd& q : queues_) {
      if (q.spilled()) return true;
    }
    return false;
  };
  while (!stop.load(std::memory_order_relaxed)) {
    if (step() != 0) {
      if (idle_since != 0) spin.gap_ended(slept);
      clock_.settle_every(c_);
      shared_.publish(c_);
      idle.reset();
      idle_since = 0;
      slept = false;
      continue;
    }
    if (idle_since == 0) idle_since = clock_.last_lap();
    if (clock_.last_lap() - idle_since < spin.ns()) {
      qp::cpu_relax();
    } else if (bell_ != nullptr && !spilling()) {
      clock_.settle_every(c_);
      shared_.publish(c_);
      // The re-check after the announcement: stop (seq_cst, against the stopper's store and
      // ring), then a whole step (the epoch and the pairs): what it finds, it serves.
      qp::announce(*bell_);
      if (stop.load(std::memory_order_seq_cst)) {
        qp::cancel(*bell_);
        break;
      }
      if (step() != 0) {
        qp::cancel(*bell_);
        // Just past the budget: polling a little longer would have caught it.
        spin.gap_ended(false);
        idle_since = 0;
        slept = false;
        continue;
      }
      qp::wait(*bell_, qp::kNoTimeout);
      slept = true;
      clock_.lap(c_, Stage::idle);  // a sleep's wall time is not the next batch's
    } else {
      idle.pause();
      slept = true;
      clock_.lap(c_, Stage::idle);
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
