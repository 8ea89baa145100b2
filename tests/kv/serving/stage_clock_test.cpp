// The per-stage CPU clock (StageClock): busy laps are charged from the monotonic clock, the rest
// of the thread's CPU time goes to idle when the clock settles, so the stages add up to the
// thread's CPU time; a lap the thread spent blocked is scaled down to the CPU it used; the host
// loop's time before a resume() is no stage's (its CPU time is idle); settle_every() waits a
// millisecond.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <thread>

#include "buddy/base/clock.hpp"
#include "buddy/kv/serving/stats.hpp"

namespace buddy::kv::serving {
namespace {

constexpr std::uint64_t kMs = 1'000'000;

// Burns ns of this thread's CPU time.
void burn(std::uint64_t ns) {
  const std::uint64_t end = base::thread_cpu_ns() + ns;
  volatile std::uint64_t x = 0;
  while (base::thread_cpu_ns() < end) x = x + 1;
}

std::uint64_t at(const Counters& c, Stage s) {
  return c.stage_ns[static_cast<std::size_t>(s)];
}
std::uint64_t sum(const Counters& c) {
  std::uint64_t n = 0;
  for (auto v : c.stage_ns) n += v;
  return n;
}

TEST(StageClock, BusyLapsAndIdleAddUpToTheThreadsCpuTime) {
  Counters c;
  const std::uint64_t cpu0 = base::thread_cpu_ns();
  StageClock clock;
  burn(20 * kMs);
  clock.lap(c, Stage::process);
  burn(10 * kMs);
  clock.lap(c, Stage::idle);
  EXPECT_EQ(sum(c), 0u) << "nothing is charged before settle";
  clock.settle(c);
  const std::uint64_t cpu = base::thread_cpu_ns() - cpu0;
  EXPECT_LE(sum(c), cpu);
  EXPECT_GE(sum(c) + kMs / 2, cpu) << "the stages are the thread's CPU time";
  EXPECT_GE(at(c, Stage::process), 18 * kMs);  // more if the thread was preempted in the lap
  EXPECT_EQ(at(c, Stage::receive) + at(c, Stage::parse) + at(c, Stage::respond), 0u);
  // Only idle marks: everything since the last settle is idle.
  const std::uint64_t before = sum(c);
  burn(20 * kMs);
  clock.lap(c, Stage::idle);
  const std::uint64_t process = at(c, Stage::process);
  clock.settle(c);
  EXPECT_EQ(at(c, Stage::process), process);
  EXPECT_GE(sum(c) - before, 19 * kMs);
}

TEST(StageClock, ABlockedLapIsScaledDownToTheCpuItUsed) {
  Counters c;
  StageClock clock;
  const std::uint64_t cpu0 = base::thread_cpu_ns();
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  clock.lap(c, Stage::respond);
  clock.settle(c);
  const std::uint64_t cpu = base::thread_cpu_ns() - cpu0;
  EXPECT_LE(sum(c), cpu + kMs / 10);
  EXPECT_LT(at(c, Stage::respond), 5 * kMs) << "a sleep costs no CPU";
}

TEST(StageClock, TheHostsTimeBetweenStepsIsNotAStage) {
  Counters c;
  StageClock clock;
  const std::uint64_t cpu0 = base::thread_cpu_ns();
  burn(5 * kMs);
  clock.lap(c, Stage::parse);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the host loop, blocked
  burn(20 * kMs);                                              // and working
  clock.resume();
  burn(5 * kMs);
  clock.lap(c, Stage::respond);
  clock.settle(c);
  const std::uint64_t cpu = base::thread_cpu_ns() - cpu0;
  // Neither stage holds the host's time, blocked or not: each is at least its own 5 ms (more
  // if preempted inside it, scaled down to the thread's CPU time at most).
  EXPECT_GE(at(c, Stage::parse), 5 * kMs * 95 / 100);
  EXPECT_GE(at(c, Stage::respond), 5 * kMs * 95 / 100);
  EXPECT_LE(at(c, Stage::parse) + at(c, Stage::respond), cpu);
  EXPECT_GE(at(c, Stage::idle), cpu - at(c, Stage::parse) - at(c, Stage::respond) - kMs / 2)
      << "the host's CPU time is idle";
  EXPECT_GE(sum(c) + kMs / 2, cpu);
}

TEST(StageClock, SettleEveryWaitsAMillisecond) {
  Counters c;
  StageClock clock;
  clock.lap(c, Stage::receive);
  clock.settle_every(c);
  const std::uint64_t first = sum(c);
  EXPECT_LT(first, kMs) << "at most what the first laps took";
  burn(2 * kMs);
  clock.lap(c, Stage::idle);
  clock.settle_every(c);
  EXPECT_GE(sum(c), 2 * kMs) << "a millisecond later it settles";
}

}  // namespace
}  // namespace buddy::kv::serving
