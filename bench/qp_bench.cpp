// buddy-qp-bench: one producer thread and one consumer thread, pinned to two cores, move 16-byte
// messages through buddy::qp (a ring in a shared-memory segment) and through
// boost::lockfree::spsc_queue in the same run, at several batch sizes. Each implementation uses
// its own batch API at batch > 1 (buddy: reserve/advance/publish and peek/advance/publish;
// boost: push(ptr, n) and pop(ptr, n)). Every run verifies that the consumer saw each sequence
// number exactly once in order. Reports the fastest and the median of --repeat runs, and the
// ratio of the fastest runs (interference on a shared machine only ever slows a run down).
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

#include "bench_util.hpp"
#include "buddy/base/json.hpp"
#include "buddy/qp/qp.hpp"
#include "cli.hpp"
#include "cpu_list.hpp"

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

Msg make_msg(std::uint64_t seq) {
  return {seq, seq * 3};
}

// Checks that the consumer sees 0, 1, 2, ... with intact payloads.
struct SeqCheck {
  std::uint64_t next = 0;
  bool in_order = true;
  void see(const Msg& m) {
    in_order &= (m.seq == next) & (m.payload == next * 3);
    ++next;
  }
  std::uint64_t result() const { return in_order ? next : 0; }
};

// Waits without burning a shared core forever: both sides are pinned, so spinning is the
// common case, but an oversubscribed machine still makes progress.
struct Waiter {
  buddy::qp::Backoff b{buddy::qp::BackoffConfig{4096, 64, 1, 100}};
  void after(bool progress) {
    if (progress) {
      b.reset();
    } else {
      b.pause();
    }
  }
};

// Batch 1, the same loops for both queues around their one-message calls.
template <class TryPush>
void produce_singly(std::uint64_t n, TryPush try_push) {
  Waiter w;
  for (std::uint64_t seq = 0; seq < n;) {
    const bool ok = try_push(make_msg(seq));
    seq += ok;
    w.after(ok);
  }
}
template <class TryPop>
std::uint64_t consume_singly(std::uint64_t n, TryPop try_pop) {
  Waiter w;
  SeqCheck check;
  Msg m{};
  while (check.next < n) {
    const bool ok = try_pop(m);
    if (ok) check.see(m);
    w.after(ok);
  }
  return check.result();
}

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
    buddy::tools::pin_to_cpu(o.cpus[1]);  // best effort: fewer cores still measures something
    ready.fetch_add(1);
    while (ready.load() < 2) buddy::qp::cpu_relax();
    consumed_ok = consume(o.messages);
    t1 = std::chrono::steady_clock::now();
  });
  buddy::tools::pin_to_cpu(o.cpus[0]);
  ready.fetch_add(1);
  while (ready.load() < 2) buddy::qp::cpu_relax();
  t0 = std::chrono::steady_clock::now();
  produce(o.messages);
  consumer.join();
  return {std::chrono::duration<double>(t1 - t0).count(), consumed_ok == o.messages};
}

// buddy's batch API: write messages in place (reserve/advance), one publish per batch; read in
// place (consume), one publish per batch.
RunResult run_buddy(const Options& o, std::size_t batch) {
  buddy::qp::SegmentLayout l;
  l.request = buddy::qp::RingSpec::fixed(sizeof(Msg), kCapacity);
  l.response = buddy::qp::RingSpec::fixed(sizeof(Msg), 2);
  const std::string name = "qp-bench-" + std::to_string(::getpid());
  buddy::qp::Segment seg = buddy::qp::Segment::create(name, l);
  auto prod = seg.request_producer<Msg>(0);
  auto cons = seg.request_consumer<Msg>(0);
  if (batch == 1) {
    return run_pair(
        o,
        [&](std::uint64_t n) { produce_singly(n, [&](const Msg& m) { return prod.try_push(m); }); },
        [&](std::uint64_t n) {
          return consume_singly(n, [&](Msg& m) { return cons.try_pop(m); });
        });
  }
  return run_pair(
      o,
      [&](std::uint64_t n) {
        Waiter w;
        for (std::uint64_t seq = 0; seq < n;) {
          const std::uint64_t start = seq, end = std::min<std::uint64_t>(seq + batch, n);
          while (seq < end) {  // two reservations when the batch wraps, one publish
            auto s = prod.reserve(end - seq);
            if (s.empty()) break;
            for (auto& m : s) m = make_msg(seq++);
            prod.advance(s.size());
          }
          prod.publish();
          w.after(seq != start);
        }
      },
      [&](std::uint64_t n) {
        Waiter w;
        SeqCheck check;
        while (check.next < n) {
          w.after(cons.consume(batch, [&](const Msg& m) { check.see(m); }) != 0);
        }
        return check.result();
      });
}

// boost's batch API: push(ptr, n) from a local array, pop(ptr, n) into one.
RunResult run_boost(const Options& o, std::size_t batch) {
  auto q =
      std::make_unique<boost::lockfree::spsc_queue<Msg, boost::lockfree::capacity<kCapacity>>>();
  if (batch == 1) {
    return run_pair(
        o, [&](std::uint64_t n) { produce_singly(n, [&](const Msg& m) { return q->push(m); }); },
        [&](std::uint64_t n) { return consume_singly(n, [&](Msg& m) { return q->pop(m); }); });
  }
  return run_pair(
      o,
      [&](std::uint64_t n) {
        Waiter w;
        std::vector<Msg> buf(batch);
        for (std::uint64_t seq = 0; seq < n;) {
          const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(batch, n - seq));
          for (std::size_t i = 0; i < want; ++i) buf[i] = make_msg(seq + i);
          for (std::size_t done = 0; done < want;) {
            const std::size_t k = q->push(buf.data() + done, want - done);
            done += k;
            w.after(k != 0);
          }
          seq += want;
        }
      },
      [&](std::uint64_t n) {
        Waiter w;
        SeqCheck check;
        std::vector<Msg> buf(batch);
        while (check.next < n) {
          const std::size_t got = q->pop(buf.data(), batch);
          for (std::size_t i = 0; i < got; ++i) check.see(buf[i]);
          w.after(got != 0);
        }
        return check.result();
      });
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
      ->expected(2)
      ->check([](const std::string& s) { return buddy::tools::check_usable_cpu(s); });
  app.add_flag("--json", o.json, "one JSON object per result line");
  app.name("buddy-qp-bench");
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;

  if (!o.json) {
    std::printf(
        "buddy::qp vs boost::lockfree::spsc_queue: 16-B messages, %llu per run, fastest (median) "
        "of %d runs, cpus %d,%d\n",
        static_cast<unsigned long long>(o.messages), o.repeat, o.cpus[0], o.cpus[1]);
    std::printf("%6s %22s %22s %12s %26s\n", "batch", "boost Mmsg/s (median)",
                "buddy Mmsg/s (median)", "buddy/boost", "per-pair ratio median [range]");
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
    const double bu = buddy::tools::fastest(buddy_rates), bo = buddy::tools::fastest(boost_rates);
    const double bu_med = buddy::tools::median(buddy_rates),
                 bo_med = buddy::tools::median(boost_rates);
    // The ratio within each back-to-back pair of runs, and each side's own max/min: when boost
    // alone spreads as wide as the target ratio, one run's verdict is the machine's, not the
    // queue's.
    const buddy::tools::Spread pr = buddy::tools::pair_ratios(buddy_rates, boost_rates);
    if (o.json) {
      // One line per implementation; the buddy line also gives its ratio to boost's.
      auto line = [&](const char* impl, double best, double median, bool ratio) {
        using buddy::base::json::Fixed;
        buddy::base::json::Writer js;
        js.begin_object().member("impl", impl).member("batch", batch).member("msg_bytes", 16);
        js.member("mmsgs_per_s", Fixed{best, 1}).member("median_mmsgs_per_s", Fixed{median, 1});
        js.member("runs", o.repeat);
        js.member("self_spread",
                  Fixed{buddy::tools::self_spread(ratio ? buddy_rates : boost_rates), 2});
        if (ratio) {
          js.member("ratio_vs_boost", Fixed{bu / bo, 2});
          js.member("pair_ratio_median", Fixed{pr.median, 2});
          js.member("pair_ratio_min", Fixed{pr.min, 2}).member("pair_ratio_max", Fixed{pr.max, 2});
        }
        std::printf("%s\n", js.end_object().str().c_str());
      };
      line("boost", bo, bo_med, false);
      line("buddy", bu, bu_med, true);
    } else {
      std::printf("%6zu %13.1f (%6.1f) %13.1f (%6.1f) %11.2fx %11.2fx [%.2f-%.2f]\n", batch, bo,
                  bo_med, bu, bu_med, bu / bo, pr.median, pr.min, pr.max);
    }
    std::fflush(stdout);
  }
  return failures == 0 ? 0 : 1;
}
