// buddy-doorbell-bench: the wake-up latency of an idle side of a queue pair. A sleeper thread
// waits for a round number the other thread posts after a pause (so the sleeper is really
// asleep), and measures the time from the post to its noticing it, in two ways in the same run:
//  - doorbell: it sleeps on a qp::Doorbell (FUTEX_WAIT) that the poster rings (qp/doorbell.hpp);
//  - backoff: the PE's idle loop before the doorbell: yield 4 times, then sleep 10..100 us
//    (qp::Backoff), polling between sleeps.
// Per way: p50/p99/max wake-up latency and the sleeper's CPU time per round (what waiting costs);
// the doorbell line gives its ratios to the back-off's. Also: ns per ring() of an awake bell (the
// producer's cost per publish when nobody sleeps). --timeout-us and --slack-us set the doorbell
// sleep's timeout (0: none, as the PE sleeps) and the sleeper's timer slack.
#include <sys/prctl.h>
#include <time.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "buddy/base/json.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy/qp/doorbell.hpp"
#include "cli.hpp"
#include "cpu_list.hpp"

namespace {

using buddy::qp::Doorbell;

struct Options {
  std::uint64_t rounds = 5000;
  std::uint32_t gap_us = 200;
  std::uint32_t timeout_us = 100'000;  // the doorbell sleep's timeout (0: none, as the PE's)
  std::uint32_t slack_us = 0;          // the sleeper's timer slack (0: the kernel's default)
  std::vector<int> cpus{0, 1};
  bool json = false;
};

std::int64_t now_ns(clockid_t c = CLOCK_MONOTONIC) {
  timespec ts{};
  clock_gettime(c, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

struct Result {
  double p50_us = 0, p99_us = 0, max_us = 0, cpu_us_per_round = 0;
};

struct alignas(64) Shared {
  Doorbell bell{};
  alignas(64) std::atomic<std::uint64_t> posted{0};
  std::atomic<std::int64_t> posted_ns{0};
  alignas(64) std::atomic<std::uint64_t> seen{0};
};

Result run(const Options& o, bool doorbell) {
  Shared s;
  std::vector<double> lat;
  lat.reserve(o.rounds);
  std::int64_t cpu_ns = 0;
  std::thread sleeper([&] {
    buddy::tools::pin_to_cpu(o.cpus[1]);
    if (o.slack_us > 0) ::prctl(PR_SET_TIMERSLACK, 1000UL * o.slack_us, 0, 0, 0);
    buddy::qp::Backoff idle(
        buddy::qp::BackoffConfig{.spins = 0, .yields = 4, .min_sleep_us = 10, .max_sleep_us = 100});
    const std::int64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    for (std::uint64_t i = 1; i <= o.rounds; ++i) {
      const auto ready = [&] { return s.posted.load(std::memory_order_acquire) >= i; };
      idle.reset();
      while (!ready()) {
        if (doorbell) {
          buddy::qp::sleep(
              s.bell, ready,
              o.timeout_us == 0 ? buddy::qp::kNoTimeout : std::chrono::microseconds(o.timeout_us));
        } else {
          idle.pause();
        }
      }
      lat.push_back(static_cast<double>(now_ns() - s.posted_ns.load()) / 1e3);
      s.seen.store(i, std::memory_order_release);
    }
    cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
  });
  buddy::tools::pin_to_cpu(o.cpus[0]);
  for (std::uint64_t i = 1; i <= o.rounds; ++i) {
    buddy::qp::Backoff wait;
    while (s.seen.load(std::memory_order_acquire) < i - 1) wait.pause();
    std::this_thread::sleep_for(std::chrono::microseconds(o.gap_us));
    s.posted_ns.store(now_ns());
    s.posted.store(i, std::memory_order_release);
    if (doorbell) buddy::qp::ring(s.bell);
  }
  sleeper.join();
  std::sort(lat.begin(), lat.end());
  auto at = [&](double q) { return lat[std::min(lat.size() - 1, std::size_t(q * lat.size()))]; };
  return {at(0.50), at(0.99), lat.back(), static_cast<double>(cpu_ns) / 1e3 / o.rounds};
}

double ring_awake_ns() {
  Doorbell d{};
  constexpr int kN = 10'000'000;
  int rang = 0;
  const std::int64_t t0 = now_ns();
  for (int i = 0; i < kN; ++i) rang += buddy::qp::ring(d);
  return static_cast<double>(now_ns() - t0) / kN + rang;  // rang is 0: the bell is awake
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"buddy-doorbell-bench: wake-up latency of a doorbell sleep against the back-off"};
  app.add_option("--rounds,-n", o.rounds, "wake-ups per way")->check(CLI::Range(10, 10'000'000));
  app.add_option("--gap-us", o.gap_us, "pause before each post (the sleeper falls asleep)")
      ->check(CLI::Range(0, 1'000'000));
  app.add_option("--timeout-us", o.timeout_us,
                 "the doorbell sleep's timeout (0: none, as the PE sleeps)")
      ->check(CLI::Range(0, 10'000'000));
  app.add_option("--slack-us", o.slack_us,
                 "the sleeper's timer slack (PR_SET_TIMERSLACK; 0: default)")
      ->check(CLI::Range(0, 1'000'000));
  app.add_option("--cpus", o.cpus, "poster,sleeper cpu (-1: no pinning)")
      ->delimiter(',')
      ->expected(2)
      ->check([](const std::string& s) { return buddy::tools::check_usable_cpu(s); });
  app.add_flag("--json", o.json, "one JSON object per result line");
  app.name("buddy-doorbell-bench");
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;

  const Result bo = run(o, false);
  const Result db = run(o, true);
  const double ring_ns = ring_awake_ns();
  if (o.json) {
    auto line = [&](const char* way, const Result& r, bool ratio) {
      using buddy::base::json::Fixed;
      buddy::base::json::Writer js;
      js.begin_object().member("way", way).member("rounds", o.rounds).member("gap_us", o.gap_us);
      js.member("timeout_us", o.timeout_us).member("slack_us", o.slack_us);
      js.member("wake_p50_us", Fixed{r.p50_us, 1}).member("wake_p99_us", Fixed{r.p99_us, 1});
      js.member("wake_max_us", Fixed{r.max_us, 1});
      js.member("cpu_us_per_round", Fixed{r.cpu_us_per_round, 2});
      if (ratio) {
        js.member("p50_ratio_vs_backoff", Fixed{r.p50_us / bo.p50_us, 2});
        js.member("p99_ratio_vs_backoff", Fixed{r.p99_us / bo.p99_us, 2});
        js.member("cpu_ratio_vs_backoff", Fixed{r.cpu_us_per_round / bo.cpu_us_per_round, 2});
        js.member("ring_awake_ns", Fixed{ring_ns, 1});
      }
      std::printf("%s\n", js.end_object().str().c_str());
    };
    line("backoff", bo, false);
    line("doorbell", db, true);
  } else {
    std::printf(
        "wake-up after a %u us pause, %llu rounds, cpus %d,%d, timeout %u us, slack %u us\n",
        o.gap_us, static_cast<unsigned long long>(o.rounds), o.cpus[0], o.cpus[1], o.timeout_us,
        o.slack_us);
    std::printf("%-9s %9s %9s %9s %14s\n", "way", "p50 us", "p99 us", "max us", "cpu us/round");
    for (auto [name, r] : {std::pair{"backoff", bo}, std::pair{"doorbell", db}}) {
      std::printf("%-9s %9.1f %9.1f %9.1f %14.2f\n", name, r.p50_us, r.p99_us, r.max_us,
                  r.cpu_us_per_round);
    }
    std::printf(
        "doorbell/backoff: p50 %.2fx, p99 %.2fx, cpu %.2fx; ring() of an awake bell %.1f ns\n",
        db.p50_us / bo.p50_us, db.p99_us / bo.p99_us, db.cpu_us_per_round / bo.cpu_us_per_round,
        ring_ns);
  }
  return 0;
}
