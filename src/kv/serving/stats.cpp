#include "buddy/kv/serving/stats.hpp"

#include "buddy/base/clock.hpp"

namespace buddy::kv::serving {

std::uint64_t StageClock::now() noexcept {
  return base::thread_cpu_ns();
}

std::uint64_t StageClock::wall_now() noexcept {
  return base::monotonic_ns();
}

void StageClock::restart() noexcept {
  t_ = wall_now();
  settled_at_ = t_;
  cpu_ = now();
  pending_ = {};
}

void StageClock::settle(Counters& c) noexcept {
  const std::uint64_t cpu = now();
  const std::uint64_t used = cpu > cpu_ ? cpu - cpu_ : 0;
  std::uint64_t busy = 0;
  for (auto p : pending_) busy += p;
  // Preempted inside a lap: the laps' wall time exceeds the CPU time; scale every lap down.
  const auto scaled = [&](std::uint64_t ns) {
    if (busy <= used) return ns;
    return static_cast<std::uint64_t>(static_cast<double>(ns) * static_cast<double>(used) /
                                      static_cast<double>(busy));
  };
  std::uint64_t charged = 0;
  for (std::size_t i = 0; i < kStages; ++i) {
    const std::uint64_t ns = scaled(pending_[i]);
    c.stage_ns[i] += ns;
    charged += ns;
  }
  c.stage_ns[static_cast<std::size_t>(Stage::idle)] += used > charged ? used - charged : 0;
  pending_ = {};
  cpu_ = cpu;
  settled_at_ = t_;
}

std::uint64_t Counters::dropped() const {
  std::uint64_t n = 0;
  for (auto d : drops) n += d;
  return n;
}

void write_json(base::json::Writer& w, const Counters& c) {
  base::write_fields(w, c);
  w.member("dropped", c.dropped());
}

std::string to_text(const Counters& c) {
  std::string s = base::text_fields(c);
  s.insert(s.find('\n'), " dropped=" + std::to_string(c.dropped()));
  return s;
}

}  // namespace buddy::kv::serving
