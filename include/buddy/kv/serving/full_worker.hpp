// The cpu-only design: one host thread runs to completion on its own port and partitions:
// receive a burst, parse (CE), execute (PE), respond (CE), send the burst.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "buddy/kv/serving/comm_engine.hpp"
#include "buddy/kv/serving/processing_engine.hpp"
#include "buddy/kv/serving/stats.hpp"
#include "buddy/kv/serving/worker_config.hpp"
#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::serving {

class FullWorker {
 public:
  FullWorker(wire::BurstTransport& transport, CommEngine ce, ProcessingEngine pe,
             SharedCounters& shared, WorkerConfig cfg = {});

  // Serves until stop is set.
  void run(const std::atomic<bool>& stop);
  // One receive (waiting up to `wait`) and, if anything came, one full burst. For tests.
  bool step(std::chrono::microseconds wait);

  const Counters& counters() const noexcept { return c_; }
  // A loop that runs other work between steps calls it before one: that time is not the worker's.
  void resume_clock() noexcept { clock_.resume(); }

 private:
  void publish();  // settles the stage clock (at most once a millisecond), then publishes

  wire::BurstTransport& t_;
  CommEngine ce_;
  ProcessingEngine pe_;
  SharedCounters& shared_;
  WorkerConfig cfg_;
  Counters c_;
  std::vector<std::byte> rx_bytes_;
  std::vector<wire::Datagram> rx_;
  Burst burst_;
  StageClock clock_;
  std::uint32_t idle_steps_ = 0;
};

}  // namespace buddy::kv::serving
