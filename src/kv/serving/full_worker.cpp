#include "buddy/kv/serving/full_worker.hpp"

#include "buddy/kv/wire/format.hpp"

namespace buddy::kv::serving {

FullWorker::FullWorker(wire::BurstTransport& transport, CommEngine ce, ProcessingEngine pe,
                       SharedCounters& shared, WorkerConfig cfg)
    : t_(transport),
      ce_(std::move(ce)),
      pe_(std::move(pe)),
      shared_(shared),
      cfg_(cfg),
      rx_bytes_(cfg.burst * ce_.max_datagram()),
      rx_(cfg.burst) {
  // Receive buffers are fixed; a receive only fills in size and peer.
  for (std::size_t i = 0; i < rx_.size(); ++i) {
    rx_[i].data = rx_bytes_.data() + i * ce_.max_datagram();
    rx_[i].capacity = static_cast<std::uint32_t>(ce_.max_datagram());
  }
}

bool FullWorker::step(std::chrono::microseconds wait) {
  StageClock& clock = clock_;
  std::size_t n = t_.recv_burst(rx_, std::chrono::microseconds{0});
  if (n == 0) {
    // Polling for traffic is idle time, even when the wait ends with a datagram.
    if (wait.count() > 0) n = t_.recv_burst(rx_, wait);
    clock.lap(c_, Stage::idle);
    if (n == 0) {
      if (++idle_steps_ % 1024 == 0) publish();
      return false;
    }
  } else {
    clock.lap(c_, Stage::receive);
  }

  burst_.clear();
  ce_.parse({rx_.data(), n}, burst_, c_);
  clock.lap(c_, Stage::parse);

  pe_.execute(burst_.pe, burst_.results, burst_.arena);
  c_.processed += burst_.pe.size();
  c_.replayed = pe_.replayed() + pe_.superseded();
  clock.lap(c_, Stage::process);

  const auto tx = ce_.respond(burst_, c_);
  const std::size_t sent = t_.send_burst(tx);
  c_.send_failures += tx.size() - sent;
  clock.lap(c_, Stage::respond);
  publish();
  return true;
}

void FullWorker::publish() {
  clock_.settle_every(c_);
  shared_.publish(c_);
}

void FullWorker::run(const std::atomic<bool>& stop) {
  clock_.restart();
  std::uint32_t empty = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    // Spin on non-blocking receives first (low latency under load), then block in poll():
    // an idle server gives its core away, as tests on 2 oversubscribed cores need.
    const bool blocking = empty >= cfg_.spins;
    if (step(blocking ? cfg_.wait : std::chrono::microseconds{0})) {
      empty = 0;
    } else {
      ++empty;
      if (blocking) publish();
    }
  }
  clock_.settle(c_);
  shared_.publish(c_);
}

}  // namespace buddy::kv::serving
