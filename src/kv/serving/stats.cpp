#include "buddy/kv/serving/stats.hpp"

#include "buddy/base/clock.hpp"

namespace buddy::kv::serving {

std::uint64_t StageClock::now() noexcept {
  return base::thread_cpu_ns();
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
