// buddykv-queue-bench: requests and answers through one KV queue pair (CE thread <-> PE thread,
// pinned to two cores) against two boost::lockfree::spsc_queue of the same compact entries
// (32-B requests with an 8-B key and 8-B value, 16-B answers with an 8-B value) in the same run.
// Both sides do the same work: the CE builds requests from kv::Request views and checks every
// answer (sequence and value), the PE turns entries into kv::Request views (what
// Partition::execute takes) and answers with an 8-B value; no store, so the queues are measured.
// The CE keeps at most --window requests in flight. Reports Mreq/s (round trips), the fastest and
// the median of --repeat runs, and the ratio of the fastest runs.
#include <time.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <boost/lockfree/spsc_queue.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench_util.hpp"
#include "buddy/base/json.hpp"
#include "buddy/kv/queue/kv_queue.hpp"
#include "buddy/qp/backoff.hpp"
#include "cli.hpp"
#include "cpu_list.hpp"

namespace {

using buddy::kv::Op;
using buddy::kv::Request;
namespace srv = buddy::kv::queue;

struct Options {
  std::uint64_t requests = 10'000'000;
  std::vector<std::size_t> batches{8, 32, 128};
  std::size_t window = 1024;
  int repeat = 3;
  std::vector<int> cpus{0, 1};
  bool json = false;
  bool serial = false;
};

// The boost competitor's entries: the same 32 and 16 bytes.
struct Req32 {
  srv::KvRequestEntry h;
  char key[8];
  char value[8];
};
struct Resp16 {
  srv::KvResponseEntry h;
  char value[8];
};
static_assert(sizeof(Req32) == 32 && sizeof(Resp16) == 16);
constexpr std::size_t kBoostCapacity = 8192;  // entries per queue (the KV rings: 256 KiB each)

struct Keys {
  std::vector<std::string> key, value;
  explicit Keys(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      char b[16];
      std::snprintf(b, sizeof b, "k%07zu", i);
      key.emplace_back(b, 8);
      std::snprintf(b, sizeof b, "v%07zu", i);
      value.emplace_back(b, 8);
    }
  }
};
constexpr std::size_t kKeys = 1024;

Request make_req(const Keys& k, std::uint64_t seq) {
  const std::size_t i = seq % kKeys;
  return {seq % 2 ? Op::set : Op::get, seq * 0x9e3779b97f4a7c15ull, k.key[i],
          seq % 2 ? std::string_view(k.value[i]) : std::string_view{}};
}
// The PE's answer: an 8-B value (the key, so the CE can check it).
std::string_view answer_of(const Request& r) {
  return r.key;
}

// The boost side's entry work, the same as the queue pair's: build a request entry, turn entries
// into kv::Request views and answer them, check an answer.
Req32 to_req32(const Request& r) {
  Req32 e;
  const std::string_view v = r.op == Op::set ? r.value : std::string_view{};
  e.h = {static_cast<std::uint8_t>(static_cast<std::uint8_t>(r.op) + 1),
         static_cast<std::uint8_t>(r.key.size()), 0, static_cast<std::uint32_t>(v.size()), r.hash};
  std::memcpy(e.key, r.key.data(), 8);
  std::memset(e.value, 0, 8);
  std::memcpy(e.value, v.data(), v.size());
  return e;
}
void serve_boost(const Req32* in, Request* views, Resp16* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) {
    const Req32& e = in[i];
    views[i] = {static_cast<Op>(e.h.op - 1), e.h.key_hash, std::string_view(e.key, e.h.key_len),
                std::string_view(e.value, e.h.value_len)};
  }
  for (std::size_t i = 0; i < n; ++i) {
    const std::string_view a = answer_of(views[i]);
    out[i].h = {0, 0, 0, static_cast<std::uint32_t>(a.size())};
    std::memcpy(out[i].value, a.data(), a.size());
  }
}
bool answer_ok(const Keys& k, const Resp16& r, std::uint64_t seq) {
  return std::string_view(r.value, r.h.value_len) == k.key[seq % kKeys];
}

struct Waiter {
  buddy::qp::Backoff b{buddy::qp::BackoffConfig{4096, 64, 1, 100}};
  void after(bool progress) { progress ? b.reset() : b.pause(); }
};

struct RunResult {
  double seconds = 0;
  bool ok = false;
};

double thread_cpu_seconds() {
  timespec ts{};
  ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

// One run: ce_step() (push what the window allows, poll answers) until ce_finished(), and
// pe_step() (take requests, answer them); each returns whether it made progress. Threaded: CE
// and PE on their two cpus, each backing off when idle. --serial: both steps take turns on one
// thread, timed by the thread's CPU time, so the time is the CPU work of both ends with no
// cross-core traffic, no waiting and no time lost to other processes.
template <class CeStep, class CeFinished, class PeStep>
double run_pair(const Options& o, CeStep ce_step, CeFinished ce_finished, PeStep pe_step) {
  if (o.serial) {
    // The thread's CPU time, not the wall clock: on a shared machine the wall clock also counts
    // the time other processes held the core, which is not either queue's work.
    buddy::tools::pin_to_cpu(o.cpus[0]);
    const double t0 = thread_cpu_seconds();
    while (!ce_finished()) {
      ce_step();
      pe_step();
    }
    return thread_cpu_seconds() - t0;
  }
  std::atomic<int> ready{0};
  std::atomic<bool> done{false};
  std::thread pe_thread([&] {
    buddy::tools::pin_to_cpu(o.cpus[1]);
    ready.fetch_add(1);
    while (ready.load() < 2) buddy::qp::cpu_relax();
    Waiter w;
    while (!done.load(std::memory_order_relaxed)) w.after(pe_step());
  });
  buddy::tools::pin_to_cpu(o.cpus[0]);
  ready.fetch_add(1);
  while (ready.load() < 2) buddy::qp::cpu_relax();
  const auto t0 = std::chrono::steady_clock::now();
  Waiter w;
  while (!ce_finished()) w.after(ce_step());
  const auto t1 = std::chrono::steady_clock::now();
  done.store(true);
  pe_thread.join();
  return std::chrono::duration<double>(t1 - t0).count();
}

RunResult run_buddy(const Options& o, std::size_t batch, const Keys& keys) {
  srv::KvQueueLayout l;
  l.request_ring_bytes = 256u << 10;
  l.response_ring_bytes = 128u << 10;
  std::string name = "kvq-bench-";
  name += std::to_string(::getpid());
  srv::KvQueue q = srv::KvQueue::create(name, l);
  srv::KvCeEnd ce = q.ce(0);
  srv::KvPeEnd pe = q.pe(0);
  std::vector<Request> buf(batch);
  bool ok = true;
  const double s = run_pair(
      o,
      [&] {
        bool progress = false;
        const std::uint64_t room =
            std::min<std::uint64_t>({batch, o.requests - ce.pushed(), o.window - ce.in_flight()});
        if (room != 0) {
          for (std::size_t i = 0; i < room; ++i) buf[i] = make_req(keys, ce.pushed() + i);
          if (ce.push(std::span(buf.data(), room)) != 0) {
            ce.publish();
            progress = true;
          }
        }
        return ce.poll(batch,
                       [&](const srv::KvResponse& r) {
                         ok &= r.value == keys.key[r.seq % kKeys];
                       }) != 0 ||
               progress;
      },
      [&] { return ce.responded() >= o.requests; },
      [&] {
        const auto reqs = pe.consume(batch);
        pe.respond_n(reqs.size(), [&](std::size_t i) {
          return srv::KvAnswer{buddy::kv::wire::Status::ok, answer_of(reqs[i])};
        });
        pe.publish();
        return !reqs.empty();
      });
  return {s, ok};
}

RunResult run_boost(const Options& o, std::size_t batch, const Keys& keys) {
  using Q1 = boost::lockfree::spsc_queue<Req32, boost::lockfree::capacity<kBoostCapacity>>;
  using Q2 = boost::lockfree::spsc_queue<Resp16, boost::lockfree::capacity<kBoostCapacity>>;
  auto rq = std::make_unique<Q1>();
  auto rs = std::make_unique<Q2>();
  // CE state
  std::vector<Req32> ce_out(batch);
  std::vector<Resp16> ce_in(batch);
  std::uint64_t pushed = 0, responded = 0;
  std::size_t pend = 0, pend_off = 0;
  bool ok = true;
  // PE state
  std::vector<Req32> pe_in(batch);
  std::vector<Request> views(batch);
  std::vector<Resp16> pe_out(batch);
  std::size_t answers = 0, answers_off = 0;
  const double s = run_pair(
      o,
      [&] {
        bool progress = false;
        if (pend_off == pend) {
          pend = static_cast<std::size_t>(std::min<std::uint64_t>(
              {batch, o.requests - pushed, o.window - (pushed - responded)}));
          pend_off = 0;
          for (std::size_t i = 0; i < pend; ++i) ce_out[i] = to_req32(make_req(keys, pushed + i));
        }
        if (pend_off < pend) {
          const std::size_t k = rq->push(ce_out.data() + pend_off, pend - pend_off);
          pend_off += k;
          pushed += k;
          progress |= k != 0;
        }
        const std::size_t got = rs->pop(ce_in.data(), batch);
        for (std::size_t i = 0; i < got; ++i) ok &= answer_ok(keys, ce_in[i], responded + i);
        responded += got;
        return progress || got != 0;
      },
      [&] { return responded >= o.requests; },
      [&] {
        if (answers_off == answers) {  // the last answers are all in: take the next requests
          answers = rq->pop(pe_in.data(), batch);
          answers_off = 0;
          serve_boost(pe_in.data(), views.data(), pe_out.data(), answers);
        }
        const std::size_t k = rs->push(pe_out.data() + answers_off, answers - answers_off);
        answers_off += k;
        return k != 0;
      });
  return {s, ok};
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{
      "buddykv-queue-bench: round trips through one KV queue pair vs two "
      "boost::lockfree::spsc_queue of the same 32-B/16-B entries, pinned CE and PE threads"};
  app.add_option("--requests,-n", o.requests, "requests per run")
      ->check(CLI::Range(1000, 1'000'000'000));
  app.add_option("--batch", o.batches, "batch sizes (comma separated)")
      ->delimiter(',')
      ->check(CLI::Range(1, 4096));
  app.add_option("--window", o.window, "requests in flight at most")->check(CLI::Range(1, 4096));
  app.add_option("--repeat", o.repeat, "runs per point")->check(CLI::Range(1, 100));
  app.add_option("--cpus", o.cpus, "CE,PE cpu (-1: no pinning)")
      ->delimiter(',')
      ->expected(2)
      ->check([](const std::string& s) { return buddy::tools::check_usable_cpu(s); });
  app.add_flag("--json", o.json, "one JSON object per result line");
  app.add_flag("--serial", o.serial,
               "CE and PE take turns on one thread (the first --cpus cpu), timed by its CPU "
               "time: each queue's CPU work per round trip, without cross-core traffic");
  app.name("buddykv-queue-bench");
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;

  const Keys keys(kKeys);
  if (!o.json) {
    std::printf(
        "KV queue pair vs boost::lockfree::spsc_queue: 8-B keys/values (32-B requests, 16-B "
        "answers), %llu round trips per run, window %zu, fastest (median) of %d, %s %d,%d\n",
        static_cast<unsigned long long>(o.requests), o.window, o.repeat,
        o.serial ? "serial: one thread (its CPU time), cpu" : "cpus", o.cpus[0],
        o.cpus[o.serial ? 0 : 1]);
    std::printf("%6s %22s %22s %10s %26s\n", "batch", "boost Mreq/s (median)",
                "kvq Mreq/s (median)", "kvq/boost", "per-pair ratio median [range]");
  }
  int failures = 0;
  for (std::size_t batch : o.batches) {
    std::vector<double> kvq, boost;
    for (int r = 0; r < o.repeat; ++r) {
      for (int k = 0; k < 2; ++k) {
        const bool kvq_turn = (k == 0) == (r % 2 == 0);
        RunResult res;
        try {
          res = kvq_turn ? run_buddy(o, batch, keys) : run_boost(o, batch, keys);
        } catch (const std::exception& e) {
          std::fprintf(stderr, "buddykv-queue-bench: %s\n", e.what());
          return 1;
        }
        if (!res.ok) {
          std::fprintf(stderr, "buddykv-queue-bench: %s batch %zu: a wrong answer\n",
                       kvq_turn ? "kvq" : "boost", batch);
          ++failures;
        }
        (kvq_turn ? kvq : boost).push_back(o.requests / res.seconds / 1e6);
      }
    }
    const double a = buddy::tools::fastest(kvq), b = buddy::tools::fastest(boost);
    // Each repeat runs both back to back: the ratio within a pair, over the pairs.
    const buddy::tools::Spread pr = buddy::tools::pair_ratios(kvq, boost);
    if (o.json) {
      // One line per implementation; the kvq line also gives its ratio to boost's.
      auto line = [&](const char* impl, double best, const std::vector<double>& runs, bool ratio) {
        using buddy::base::json::Fixed;
        buddy::base::json::Writer js;
        js.begin_object().member("impl", impl).member("batch", batch);
        js.member("mreq_per_s", Fixed{best, 2});
        js.member("median_mreq_per_s", Fixed{buddy::tools::median(runs), 2});
        js.member("mode", o.serial ? "serial" : "threads").member("runs", o.repeat);
        if (ratio) {
          js.member("ratio_vs_boost", Fixed{a / b, 2});
          js.member("pair_ratio_median", Fixed{pr.median, 2});
          js.member("pair_ratio_min", Fixed{pr.min, 2}).member("pair_ratio_max", Fixed{pr.max, 2});
        }
        std::printf("%s\n", js.end_object().str().c_str());
      };
      line("boost", b, boost, false);
      line("kvq", a, kvq, true);
    } else {
      std::printf("%6zu %13.2f (%6.2f) %13.2f (%6.2f) %9.2fx %11.2fx [%.2f-%.2f]\n", batch, b,
                  buddy::tools::median(boost), a, buddy::tools::median(kvq), a / b, pr.median,
                  pr.min, pr.max);
    }
    std::fflush(stdout);
  }
  return failures == 0 ? 0 : 1;
}
