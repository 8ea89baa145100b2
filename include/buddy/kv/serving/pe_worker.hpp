// A processing-engine thread of the offloaded designs: takes batches of compact requests from one
// or more KV queue pairs (round robin: sav and dual feed one PE from several CEs), runs them
// against the partitions it owns, and answers in order on the same pair.
#pragma once

#include <atomic>
#include <vector>

#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/kv/serving/processing_engine.hpp"
#include "buddy/kv/serving/stats.hpp"
#include "buddy/kv/serving/worker_config.hpp"
#include "buddy/qp/doorbell.hpp"

namespace buddy::kv::serving {

class PeWorker {
 public:
  PeWorker(ProcessingEngine pe, std::vector<queue::KvPeEnd> queues, SharedCounters& shared,
           WorkerConfig cfg = {});

  // Serves until stop is set. While every pair is empty it spins a while, then sleeps on its
  // doorbell (use_doorbells; whoever sets stop or moves the epoch on calls wake() after) or,
  // without one, backs off (yield, sleep).
  void run(const std::atomic<bool>& stop);
  // The doorbells of its pairs (KvQueue::request_bell, response_bell): it sleeps on `sleep_on`
  // (which every CE of its pairs rings) and rings ring[i] after publishing answers on its i-th
  // pair. Before run().
  void use_doorbells(qp::Doorbell* sleep_on, std::vector<qp::Doorbell*> ring);
  // Rings the bell it sleeps on (any thread, after changing what it should see: a stop, an epoch):
  // with a doorbell its sleep has no timeout, so only a ring or work ends it.
  void wake() noexcept {
    if (bell_ != nullptr) qp::ring(*bell_);
  }
  // One pass over every pair; the number of requests served.
  std::size_t step();

  const Counters& counters() const noexcept { return c_; }

  // Follows the queue pairs' epoch (an engine restart, docs/kv-designs.md): once *wanted differs
  // from epoch(), the next step() empties the pairs it serves (`pairs` of `q`, in the order of
  // its ends; KvQueue::reset_pair), drops what it owed the dead engine, reopens its ends and then
  // publishes epoch() = *wanted. Its partitions and their write windows are kept. The caller
  // moves *wanted on only once no engine uses the pairs, and starts the next engine only once
  // every PE's epoch() caught up.
  void follow_epoch(const std::atomic<std::uint32_t>* wanted, queue::KvQueue* q,
                    std::vector<std::uint32_t> pairs);
  std::uint32_t epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }

 private:
  void reset_pairs(std::uint32_t to);

  ProcessingEngine pe_;
  std::vector<queue::KvPeEnd> queues_;
  qp::Doorbell* bell_ = nullptr;     // slept on (null: back off instead)
  std::vector<qp::Doorbell*> ring_;  // per pair: rung after answers are published
  SharedCounters& shared_;
  WorkerConfig cfg_;
  Counters c_;
  StageClock clock_;
  std::vector<PeResult> results_;
  ValueArena arena_;
  const std::atomic<std::uint32_t>* wanted_ = nullptr;
  queue::KvQueue* q_ = nullptr;
  std::vector<std::uint32_t> pairs_;
  std::atomic<std::uint32_t> epoch_{0};
};

}  // namespace buddy::kv::serving
