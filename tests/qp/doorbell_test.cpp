// The doorbell (qp/doorbell.hpp): the sleep/ring protocol alone, then a sleeper and a ringer on
// two threads and in two processes (each with its own mapping of one segment), ping-ponging
// thousands of times with a wait timeout far longer than the whole test may take: a single lost
// wake-up shows as a timed-out sleep and a run that takes seconds. Runs under TSan in ./buddy
// test.
#include "buddy/qp/doorbell.hpp"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "buddy/qp/segment.hpp"
#include "test_util.hpp"

namespace buddy::qp::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Two sides, each with its bell and the count of turns it finished.
struct PingPong {
  Doorbell bell[2];
  alignas(kCacheLine) std::atomic<std::uint64_t> turn[2];
  alignas(kCacheLine) std::atomic<std::uint64_t> timeouts;
};

// Side `me` plays n turns: it waits (sleeping on its bell at once, no spin) until the other side
// finished turn i - 1 (side 0 starts), then finishes turn i and rings the other side.
void play(PingPong& p, int me, std::uint64_t n, std::chrono::nanoseconds timeout) {
  const int other = 1 - me;
  for (std::uint64_t i = 1; i <= n; ++i) {
    const std::uint64_t want = me == 0 ? i - 1 : i;
    while (p.turn[other].load(std::memory_order_acquire) < want) {
      const auto r = sleep(
          p.bell[me], [&] { return p.turn[other].load(std::memory_order_acquire) >= want; },
          timeout);
      if (r == SleepResult::timed_out) p.timeouts.fetch_add(1);
    }
    p.turn[me].store(i, std::memory_order_release);
    ring(p.bell[other]);
  }
}

TEST(Doorbell, RingAnAwakeBellDoesNothing) {
  Doorbell d{};
  EXPECT_FALSE(ring(d));
  EXPECT_EQ(d.word.load(), 0u);
}

TEST(Doorbell, WorkFoundOnTheRecheckMeansNoSleep) {
  Doorbell d{};
  const auto t0 = Clock::now();
  EXPECT_EQ(sleep(
                d, [] { return true; }, 10s),
            SleepResult::ready);
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_EQ(d.word.load(), 0u);
  EXPECT_FALSE(ring(d));  // awake again: nothing to ring
}

TEST(Doorbell, NobodyRingsTheSleepTimesOut) {
  Doorbell d{};
  const auto t0 = Clock::now();
  EXPECT_EQ(sleep(
                d, [] { return false; }, 30ms),
            SleepResult::timed_out);
  EXPECT_GE(Clock::now() - t0, 30ms);
  EXPECT_EQ(d.word.load(), 0u);
}

TEST(Doorbell, ARingBeforeTheWaitIsNotLost) {
  // The ringer comes between the sleeper's re-check and its FUTEX_WAIT.
  Doorbell d{};
  announce(d);
  EXPECT_EQ(d.word.load(), 1u);
  EXPECT_TRUE(ring(d));
  EXPECT_FALSE(ring(d));  // rung once: a second ringer finds it awake
  const auto t0 = Clock::now();
  EXPECT_EQ(wait(d, 10s), SleepResult::woken);
  EXPECT_LT(Clock::now() - t0, 1s);
}

TEST(Doorbell, AnUntimedWaitAfterARingReturnsAtOnce) {
  Doorbell d{};
  announce(d);
  EXPECT_TRUE(ring(d));
  const auto t0 = Clock::now();
  EXPECT_EQ(wait(d, kNoTimeout), SleepResult::woken);
  EXPECT_LT(Clock::now() - t0, 1s);
  EXPECT_EQ(d.word.load(), 0u);
}

TEST(Doorbell, ARingEndsAnUntimedSleep) {
  Doorbell d{};
  std::atomic<bool> flag{false};
  SleepResult got = SleepResult::ready;
  std::thread sleeper([&] {
    got = sleep(
        d, [&] { return flag.load(); }, kNoTimeout);
  });
  while (d.word.load() == 0) std::this_thread::sleep_for(1ms);  // it announced
  std::this_thread::sleep_for(20ms);                            // and (most likely) waits
  flag.store(true);
  EXPECT_TRUE(ring(d));
  sleeper.join();  // hangs (and the test times out) if the ring were lost
  EXPECT_EQ(got, SleepResult::woken);
  EXPECT_EQ(d.word.load(), 0u);
}

TEST(Doorbell, ARingWakesASleepingThread) {
  Doorbell d{};
  std::atomic<bool> flag{false};
  SleepResult got = SleepResult::ready;
  Clock::duration slept{};
  std::thread sleeper([&] {
    const auto t0 = Clock::now();
    got = sleep(
        d, [&] { return flag.load(); }, 60s);
    slept = Clock::now() - t0;
  });
  while (d.word.load() == 0) std::this_thread::sleep_for(1ms);  // it announced
  std::this_thread::sleep_for(20ms);                            // and (most likely) waits
  flag.store(true);
  EXPECT_TRUE(ring(d));
  sleeper.join();
  EXPECT_EQ(got, SleepResult::woken);
  EXPECT_LT(slept, 10s);
}

TEST(Doorbell, PingPongTwoThreadsLosesNoWakeUp) {
  const std::uint64_t n = buddy::testing::soak(20'000) / kScale;
  PingPong p{};
  const auto t0 = Clock::now();
  std::thread b([&] { play(p, 1, n, 30s); });
  play(p, 0, n, 30s);
  b.join();
  EXPECT_EQ(p.turn[0].load(), n);
  EXPECT_EQ(p.turn[1].load(), n);
  EXPECT_EQ(p.timeouts.load(), 0u) << "lost wake-ups";
  EXPECT_LT(Clock::now() - t0, 30s);
}

TEST(Doorbell, PingPongTwoProcessesLosesNoWakeUp) {
  // The child attaches by name: its own mapping at another address, the same futex word.
  const std::uint64_t n = buddy::testing::soak(5'000) / kScale;
  SegmentLayout l;
  l.request = RingSpec::records(256);
  l.response = RingSpec::records(256);
  l.extra_bytes = sizeof(PingPong);
  const std::string name = unique_name("doorbell");
  Segment seg = Segment::create(name, l);
  auto* p = new (seg.extra().data()) PingPong{};
  const auto t0 = Clock::now();
  ChildGuard child{::fork()};
  ASSERT_GE(child.pid, 0);
  if (child.pid == 0) {
    int rc = 1;
    try {
      Segment mine = Segment::attach(name);
      auto* q = reinterpret_cast<PingPong*>(mine.extra().data());
      play(*q, 1, n, 30s);
      rc = 0;
    } catch (...) {
    }
    ::_exit(rc);
  }
  play(*p, 0, n, 30s);
  const int st = child.wait_status();
  ASSERT_TRUE(WIFEXITED(st));
  EXPECT_EQ(WEXITSTATUS(st), 0);
  EXPECT_EQ(p->turn[0].load(), n);
  EXPECT_EQ(p->turn[1].load(), n);
  EXPECT_EQ(p->timeouts.load(), 0u) << "lost wake-ups";
  EXPECT_LT(Clock::now() - t0, 30s);
}

}  // namespace
}  // namespace buddy::qp::testing
