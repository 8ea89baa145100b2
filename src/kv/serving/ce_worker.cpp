#include "buddy/kv/serving/ce_worker.hpp"

#include <stdexcept>

#include "buddy/qp/backoff.hpp"

namespace buddy::kv::serving {

using namespace queue;

CeWorker::CeWorker(wire::BurstTransport& transport, CommEngine ce, KvCeEnd&& queue,
                   SharedCounters& shared, WorkerConfig cfg)
    : t_(transport),
      ce_(std::move(ce)),
      q_(std::move(queue)),
      shared_(shared),
      cfg_(cfg),
      rx_bytes_(cfg.burst * ce_.max_datagram()),
      rx_(cfg.burst),
      slots_(cfg.pipeline == 0 ? 1 : cfg.pipeline) {
  for (std::size_t i = 0; i < rx_.size(); ++i) {
    rx_[i].data = rx_bytes_.data() + i * ce_.max_datagram();
    rx_[i].capacity = static_cast<std::uint32_t>(ce_.max_datagram());
  }
}

bool CeWorker::take_answers() {
  if (count_ == 0) return false;
  const std::size_t got = q_.poll(SIZE_MAX, [this](const KvResponse& r) {
    // Answers come in sequence order; bursts without PE entries are skipped.
    while (r.seq >= slot(answering_).first_seq + slot(answering_).pushed) ++answering_;
    Slot& s = slot(answering_);
    PeResult& res = s.burst.results[r.seq - s.first_seq];
    res.status = r.status;
    res.value_len = static_cast<std::uint32_t>(r.value.size());
    res.value_off = r.value.empty() ? 0 : s.burst.arena.append(r.value);
    ++s.answered;
  });
  return got != 0;
}

bool CeWorker::send_finished() {
  bool any = false;
  while (count_ > 0) {
    Slot& s = slot(0);
    if (s.pushed != s.burst.pe.size() || s.answered != s.burst.pe.size()) break;
    const auto tx = ce_.respond(s.burst, c_);
    const std::size_t sent = t_.send_burst(tx);
    c_.send_failures += tx.size() - sent;
    head_ = (head_ + 1) % slots_.size();
    --count_;
    if (answering_ > 0) --answering_;
    any = true;
  }
  return any;
}

bool CeWorker::push_tail() {
  if (count_ == 0) return false;
  Slot& s = slot(count_ - 1);
  if (s.pushed == s.burst.pe.size()) return false;
  const std::size_t n = q_.push(std::span<const kv::Request>(s.burst.pe).subspan(s.pushed));
  if (n == 0) return false;
  s.pushed += n;
  q_.publish();
  if (pe_bell_ != nullptr) qp::ring(*pe_bell_);  // wakes the PE if it sleeps (else: one load)
  return true;
}

bool CeWorker::receive(std::chrono::microseconds wait) {
  // The received bytes back the requests until they are in the ring: receive only when the
  // newest burst is fully pushed, and only when a slot is free.
  if (count_ == slots_.size()) return false;
  if (count_ > 0 && slot(count_ - 1).pushed != slot(count_ - 1).burst.pe.size()) return false;
  std::size_t n = t_.recv_burst(rx_, std::chrono::microseconds{0});
  if (n == 0 && count_ == 0 && wait.count() > 0) {
    // Waiting for traffic is idle time, even when the wait ends with a datagram.
    n = t_.recv_burst(rx_, wait);
    clock_.lap(c_, Stage::idle);
  }
  if (n == 0) return false;
  clock_.lap(c_, Stage::receive);
  Slot& s = slot(count_);
  s.burst.clear();
  ce_.parse({rx_.data(), n}, s.burst, c_);
  s.first_seq = q_.pushed();
  s.pushed = 0;
  s.answered = 0;
  ++count_;
  push_tail();
  clock_.lap(c_, Stage::parse);
  return true;
}

bool CeWorker::step(std::chrono::microseconds wait) {
  bool moved = false;
  if (take_answers() | send_finished()) {
    clock_.lap(c_, Stage::respond);
    moved = true;
  }
  if (push_tail()) {
    clock_.lap(c_, Stage::parse);
    moved = true;
  }
  if (receive(wait)) {
    moved = true;
  } else {
    clock_.lap(c_, Stage::idle);
  }
  if (moved || ++idle_steps_ % 1024 == 0) publish();
  return moved;
}

void CeWorker::publish() {
  clock_.settle_every(c_);
  shared_.publish(c_);
}

void CeWorker::run(const std::atomic<bool>& stop) {
  clock_.restart();
  std::uint32_t empty = 0;
  qp::Backoff waiting_for_pe;
  while (!stop.load(std::memory_order_relaxed)) {
    const bool blocking = empty >= cfg_.spins;
    if (step(blocking ? cfg_.wait : std::chrono::microseconds{0})) {
      empty = 0;
      waiting_for_pe.reset();
      continue;
    }
    ++empty;
    // With bursts in flight the CE waits on the PE, not on the socket: it sleeps on its
    // response bell, which the PE rings after publishing answers (announce, one more step as the
    // re-check, then FUTEX_WAIT for at most cfg_.wait); without a bell it backs off (spin,
    // yield, sleep). Either way a PE sharing this core gets it. Datagrams that arrive meanwhile
    // wait in the socket until the answers come.
    if (blocking && count_ > 0) {
      if (own_bell_ != nullptr) {
        qp::announce(*own_bell_);
        if (step(std::chrono::microseconds{0})) {
          qp::cancel(*own_bell_);
          empty = 0;
          continue;
        }
        qp::wait(*own_bell_, cfg_.wait);
      } else {
        waiting_for_pe.pause();
      }
      clock_.lap(c_, Stage::idle);  // a sleep's wall time is not the next stage's
    }
    if (blocking) publish();
  }
  clock_.settle(c_);
  shared_.publish(c_);
}

}  // namespace buddy::kv::serving
