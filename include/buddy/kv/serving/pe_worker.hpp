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

namespace buddy::kv::serving {

class PeWorker {
 public:
  PeWorker(ProcessingEngine pe, std::vector<queue::KvPeEnd> queues, SharedCounters& shared,
           WorkerConfig cfg = {});

  // Serves until stop is set, backing off (spin, yield, sleep) while every pair is empty.
  void run(const std::atomic<bool>& stop);
  // One pass over every pair; the number of requests served.
  std::size_t step();

  const Counters& counters() const noexcept { return c_; }

 private:
  ProcessingEngine pe_;
  std::vector<queue::KvPeEnd> queues_;
  SharedCounters& shared_;
  WorkerConfig cfg_;
  Counters c_;
  StageClock clock_;
  std::vector<PeResult> results_;
  ValueArena arena_;
};

}  // namespace buddy::kv::serving
