// buddy-qp-bench: one producer thread and one consumer thread, pinned to two cores, move 16-byte
// messages through buddy::qp (a ring in a shared-memory segment) and through
// boost::lockfree::spsc_queue in the same run, at several batch sizes. Each implementation uses
// its own batch API at batch > 1 (buddy: reserve/advance/publish and peek/advance/publish;
// boost: push(ptr, n) and pop(ptr, n)). Every run verifies that the consumer saw each sequence
// number exactly once in order. Reports the fastest and the median of --repeat runs, and the
// ratio of the fastest runs (interference on a shared machine only ever slows a run down).
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <chrono>
#include <cstdio>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "buddy/qp/qp.hpp"
#include "cli.hpp"

namespace {

struct Msg {
  std::uint64_t seq;
  std::uint64_t payload;
};
static_assert(sizeof(Msg) == 16);

constexpr std::size_t kCapacity = 8192;  // entries, both implementations

struct Options {
  std::uint64_t messages = 20'000'000;
  std::vector<std::size_t> batches{1, 8, 32, 64};
  int repeat = 5;
  std::vector<int> cpus{0, 1};
  bool json = false;
};

void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  pthread_setaffinity_np(pthread_self(), sizeof set, &set);  // best effort: fewer cores is ok
}

// Waits without burning a shared core forever: both sides are pinned, so spinning is the
// common case, but an oversubscribed machine still makes progress.
struct Waiter {
  buddy::qp::Backoff b{buddy::qp::BackoffConfig{4096, 64, 1, 100}};
  void idle() { b.pause(); }
  void busy() { b.reset(); }
};

struct RunResult {
  double seconds = 0;
  bool ok = false;
};

// Runs producer(n) and consumer(n) on two pinned threads; the consumer returns the number of
// messages it saw in order.
template <class Produce, class Consume>
RunResult run_pair(const Options& o, Produce produce, Consume consume) {
  std::atomic<int> ready{0};
  std::uint64_t consumed_ok = 0;
  std::chrono::steady_clock::time_point t0, t1;
  std::thread consumer([&] {
    pin(o.cpus[1]);
    ready.fetch_add(1);
    while (ready.load() < 2) buddy::qp::cpu_relax();
    consumed_ok = consume(o.messages);
    t1 = std::chrono::steady_clock::now();
  });
  pin(o.cpus[0]);
  ready.fetch_add(1);
  while (ready.load() < 2) buddy::qp::cpu_relax();
  t0 = std::chrono::steady_clock::now();
  produce(o.messages);
  consumer.join();
  pin(-1);
  return {std::chrono::duration<double>(t1 - t0).count(), consumed_ok == o.messages};
}

RunResult run_buddy(const Options& o, std::size_t batch) {
  buddy::qp::SegmentLayout l;
  l.request = buddy::qp::RingSpec::fixed(sizeof(Msg), kCapacity);
  l.response = buddy::qp::RingSpec::fixed(sizeof(Msg), 2);
  const std::string name = "qp-bench-" + std::to_string(::getpid());
  buddy::qp::Segment seg = buddy::qp::Segment::create(name, l);
  auto prod = seg.request_producer<Msg>(0);
  auto cons = seg.request_consumer<Msg>(0);
  return run_pair(
      o,
      [&](std::uint64_t n) {
        Waiter w;
        std::uint64_t seq = 0;
        if (batch == 1) {
          while (seq < n) {
            if (prod.try_push({seq, seq * 3})) {
              ++seq;
              w.busy();
            } else {
              w.idle();
            }
          }
          return;
        }
        while (seq < n) {
          std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(batch, n - seq));
          std::size_t done = 0;
          while (done < want) {
            auto s = prod.reserve(want - done);
            if (s.empty()) break;
            for (auto& m : s) {
              m = {seq, seq * 3};
              ++seq;
            }
            prod.advance(s.size());
            done += s.size();
          }
          if (done == 0) {
            w.idle();
            continue;
          }
          prod.publish();
          w.busy();
        }
      },
      [&](std::uint64_t n) {
        Waiter w;
        std::uint64_t next = 0;
        bool in_order = true;
        if (batch == 1) {
          Msg m{};
          while (next < n) {
            if (cons.try_pop(m)) {
              in_order &= (m.seq == next) & (m.payload == next * 3);
              ++next;
              w.busy();
            } else {
              w.idle();
            }
          }
          return in_order ? next : 0;
        }
        while (next < n) {
          const std::size_t got = cons.consume(batch, [&](const Msg& m) {
            in_order &= (m.seq == next) & (m.payload == next * 3);
            ++next;
          });
          if (got == 0) {
            w.idle();
          } else {
            w.busy();
          }
        }
        return in_order ? next : 0;
      });
}

RunResult run_boost(const Options& o, std::size_t batch) {
  auto q =
      std::make_unique<boost::lockfree::spsc_queue<Msg, boost::lockfree::capacity<kCapacity>>>();
  return run_pair(
      o,
      [&](std::uint64_t n) {
        Waiter w;
        std::uint64_t seq = 0;
        if (batch == 1) {
          while (seq < n) {
            if (q->push(Msg{seq, seq * 3})) {
              ++seq;
              w.busy();
            } else {
              w.idle();
            }
          }
          return;
        }
        std::vector<Msg> buf(batch);
        while (seq < n) {
          const std::size_t want =
              static_cast<std::size_t>(std::min<std::uint64_t>(batch, n - seq));
          for (std::size_t i = 0; i < want; ++i) buf[i] = {seq + i, (seq + i) * 3};
          std::size_t done = 0;
          while (done < want) {
            const std::size_t k = q->push(buf.data() + done, want - done);
            if (k == 0) {
              w.idle();
            } else {
              w.busy();
            }
            done += k;
          }
          seq += want;
        }
      },
      [&](std::uint64_t n) {
        Waiter w;
        std::uint64_t next = 0;
        bool in_order = true;
        if (batch == 1) {
          Msg m{};
          while (next < n) {
            if (q->pop(m)) {
              in_order &= (m.seq == next) & (m.payload == next * 3);
              ++next;
              w.busy();
            } else {
              w.idle();
            }
          }
          return in_order ? next : 0;
        }
        std::vector<Msg> buf(batch);
        while (next < n) {
          const std::size_t got = q->pop(buf.data(), batch);
          for (std::size_t i = 0; i < got; ++i) {
            in_order &= (buf[i].seq == next) & (buf[i].payload == next * 3);
            ++next;
          }
          if (got == 0) {
            w.idle();
          } else {
            w.busy();
          }
        }
        return in_order ? next : 0;
      });
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}
double best(const std::vector<double>& v) {
  return *std::max_element(v.begin(), v.end());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "buddy-qp-bench: buddy::qp vs boost::lockfree::spsc_queue, 16-byte messages, pinned "
      "producer and consumer, measured in the same run"};
  app.add_option("--messages,-n", o.messages, "messages per run")
      ->check(CLI::Range(1000, 1'000'000'000));
  app.add_option("--batch", o.batches, "batch sizes (comma separated)")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096));
  app.add_option("--repeat", o.repeat, "runs per point; the fastest and the median are reported")
      ->check(CLI::Range(1, 100));
  app.add_option("--cpus", o.cpus, "producer,consumer cpu (-1: no pinning)")
      ->delimiter(',')
      ->expected(2);
  app.add_flag("--json", o.json, "one JSON object per result line");
  app.name("buddy-qp-bench");
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;

  if (!o.json) {
    std::printf(
        "buddy::qp vs boost::lockfree::spsc_queue: 16-B messages, %llu per run, fastest (median) "
        "of %d runs, cpus %d,%d\n",
        static_cast<unsigned long long>(o.messages), o.repeat, o.cpus[0], o.cpus[1]);
    std::printf("%6s %22s %22s %12s\n", "batch", "boost Mmsg/s (median)", "buddy Mmsg/s (median)",
                "buddy/boost");
  }
  int failures = 0;
  for (std::size_t batch : o.batches) {
    std::vector<double> buddy_rates, boost_rates;
    for (int r = 0; r < o.repeat; ++r) {
      // Alternate the order so neither implementation always runs on a warmer machine.
      for (int k = 0; k < 2; ++k) {
        const bool buddy_turn = (k == 0) == (r % 2 == 0);
        RunResult res;
        try {
          res = buddy_turn ? run_buddy(o, batch) : run_boost(o, batch);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "buddy-qp-bench: %s\n", e.what());
          return 1;
        }
        if (!res.ok) {
          std::fprintf(stderr, "buddy-qp-bench: %s batch %zu: consumer saw a wrong sequence\n",
                       buddy_turn ? "buddy" : "boost", batch);
          ++failures;
        }
        (buddy_turn ? buddy_rates : boost_rates).push_back(o.messages / res.seconds / 1e6);
      }
    }
    const double bu = best(buddy_rates), bo = best(boost_rates);
    const double bu_med = median(buddy_rates), bo_med = median(boost_rates);
    if (o.json) {
      std::printf(
          "{\"impl\":\"boost\",\"batch\":%zu,\"msg_bytes\":16,\"mmsgs_per_s\":%.1f,"
          "\"median_mmsgs_per_s\":%.1f,\"runs\":%d}\n",
          batch, bo, bo_med, o.repeat);
      std::printf(
          "{\"impl\":\"buddy\",\"batch\":%zu,\"msg_bytes\":16,\"mmsgs_per_s\":%.1f,"
          "\"median_mmsgs_per_s\":%.1f,\"runs\":%d,\"ratio_vs_boost\":%.2f}\n",
          batch, bu, bu_med, o.repeat, bu / bo);
    } else {
      std::printf("%6zu %13.1f (%6.1f) %13.1f (%6.1f) %11.2fx\n", batch, bo, bo_med, bu, bu_med,
                  bu / bo);
    }
    std::fflush(stdout);
  }
  return failures == 0 ? 0 : 1;
}
