#include "buddy/kv/serving/stats.hpp"

#include <bit>

#include "buddy/base/clock.hpp"

namespace buddy::kv::serving {

using Words = std::array<std::uint64_t, SharedCounters::kWords>;

std::uint64_t StageClock::now() noexcept {
  return base::thread_cpu_ns();
}

std::uint64_t Counters::dropped() const {
  std::uint64_t n = oversize;
  for (auto d : drops) n += d;
  return n;
}

Counters& Counters::operator+=(const Counters& o) {
  auto a = std::bit_cast<Words>(*this);
  const auto b = std::bit_cast<Words>(o);
  for (std::size_t i = 0; i < a.size(); ++i) a[i] += b[i];
  *this = std::bit_cast<Counters>(a);
  return *this;
}

void SharedCounters::publish(const Counters& c) noexcept {
  const auto a = std::bit_cast<Words>(c);
  for (std::size_t i = 0; i < kWords; ++i) w_[i].store(a[i], std::memory_order_relaxed);
}

Counters SharedCounters::read() const noexcept {
  Words a{};
  for (std::size_t i = 0; i < kWords; ++i) a[i] = w_[i].load(std::memory_order_relaxed);
  return std::bit_cast<Counters>(a);
}

std::string json_members(const Counters& c) {
  std::string s;
  auto num = [&](std::string_view k, std::uint64_t v, bool comma = true) {
    s += '"';
    s += k;
    s += "\":";
    s += std::to_string(v);
    if (comma) s += ',';
  };
  num("datagrams_in", c.datagrams_in);
  num("datagrams_out", c.datagrams_out);
  num("requests", c.requests);
  num("processed", c.processed);
  num("send_failures", c.send_failures);
  num("dropped", c.dropped());
  s += "\"ops\":{";
  num("get", c.ops[0]);
  num("set", c.ops[1]);
  num("del", c.ops[2], false);
  s += "},\"status\":{";
  for (std::size_t i = 0; i < kStatuses; ++i) {
    num(wire::to_string(static_cast<wire::Status>(i)), c.status[i], i + 1 < kStatuses);
  }
  s += "},\"drops\":{";
  num("oversize", c.oversize);
  for (std::size_t i = 1; i < wire::kDropReasons; ++i) {
    num(wire::to_string(static_cast<wire::Drop>(i)), c.drops[i], i + 1 < wire::kDropReasons);
  }
  s += "},\"stage_cpu_ms\":{";
  for (std::size_t i = 0; i < kStages; ++i) {
    s += '"';
    s += to_string(static_cast<Stage>(i));
    s += "\":";
    s += std::to_string(static_cast<double>(c.stage_ns[i]) / 1e6);
    if (i + 1 < kStages) s += ',';
  }
  s += '}';
  return s;
}

}  // namespace buddy::kv::serving
