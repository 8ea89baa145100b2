// A communication-engine thread of the offloaded designs (lat, sav, dual): receives a burst,
// parses it (CE), hands the compact requests to its PE over one KV queue pair, and, when the PE's
// answers come back, builds and sends the response datagrams. Several bursts are in flight at
// once (WorkerConfig::pipeline): while the PE works on one, the CE receives and parses the next,
// so CE and PE overlap. Responses go out in burst order.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <vector>

#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/kv/serving/comm_engine.hpp"
#include "buddy/kv/serving/stats.hpp"
#include "buddy/kv/serving/worker_config.hpp"
#include "buddy/kv/wire/transport.hpp"
#include "buddy/qp/doorbell.hpp"

namespace buddy::kv::serving {

class CeWorker {
 public:
  // queue is taken by rvalue reference: KvCeEnd is 64-byte aligned, and passing it by value
  // makes GCC note an ABI change on every build.
  CeWorker(wire::BurstTransport& transport, CommEngine ce, queue::KvCeEnd&& queue,
           SharedCounters& shared, WorkerConfig cfg = {});

  // Serves until stop is set; bursts still in flight then are dropped (clients retransmit).
  void run(const std::atomic<bool>& stop);
  // Its pair's doorbells (KvQueue::request_bell, response_bell): it rings `pe` (its PE's bell:
  // the request bell of the PE's first pair) after publishing requests, and sleeps on `own` (its
  // pair's response bell) while it waits for answers. Before run() or step().
  void use_doorbells(qp::Doorbell* pe, qp::Doorbell* own) noexcept {
    pe_bell_ = pe;
    own_bell_ = own;
  }
  // One round: take answers, send finished bursts, push, receive (waiting up to `wait` only when
  // nothing is in flight). True if anything moved.
  bool step(std::chrono::microseconds wait);

  std::size_t in_flight() const noexcept { return count_; }
  // A loop that runs other work between steps calls it before one: that time is not the CE's.
  void resume_clock() noexcept { clock_.resume(); }
  const Counters& counters() const noexcept { return c_; }

 private:
  struct Slot {
    Burst burst;
    std::uint64_t first_seq = 0;  // queue-pair sequence number of burst.pe[0]
    std::size_t pushed = 0;       // entries of burst.pe in the request ring
    std::size_t answered = 0;
  };
  Slot& slot(std::size_t i) { return slots_[(head_ + i) % slots_.size()]; }
  bool take_answers();
  bool send_finished();
  bool push_tail();
  bool receive(std::chrono::microseconds wait);
  void publish();  // settles the stage clock (at most once a millisecond), then publishes

  wire::BurstTransport& t_;
  CommEngine ce_;
  queue::KvCeEnd q_;
  SharedCounters& shared_;
  WorkerConfig cfg_;
  Counters c_;
  StageClock clock_;
  std::vector<std::byte> rx_bytes_;
  std::vector<wire::Datagram> rx_;
  std::vector<Slot> slots_;
  std::size_t head_ = 0, count_ = 0;
  std::size_t answering_ = 0;  // slot (from head) the next answer belongs to
  std::uint32_t idle_steps_ = 0;
  qp::Doorbell* pe_bell_ = nullptr;   // rung after each publish (null: none)
  qp::Doorbell* own_bell_ = nullptr;  // slept on while waiting for answers (null: back off)
};

}  // namespace buddy::kv::serving
