// buddy::msg::comm under a real mpirun (2 or 4 ranks, every routing mode, 1 or 2 ranks per
// node, set by the environment of each ctest entry): chains, all-to-all, broadcast,
// reductions, repeated barriers, local objects, every argument kind, records larger than a
// buffer, backpressure with a tiny budget, and statistics that must add up.
#include "buddy/msg/comm.hpp"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdlib>
#include <numeric>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "mpi_main.hpp"

namespace buddy::msg {
namespace {

options with_budget_kb(std::size_t kb) {
  options o = options::from_env();
  o.buffer_kb = kb;
  return o;
}

struct chain_state {
  std::uint64_t visits = 0;
  std::uint64_t finished = 0;
};

// A message forwarded hop by hop: each visit counts here and sends to the next rank.
struct step {
  local_ptr<chain_state> state;
  void operator()(comm& c, std::uint32_t left) const {
    ++state->visits;
    if (left == 0) {
      ++state->finished;
      return;
    }
    c.async((c.rank() + 1) % c.size(), *this, left - 1);
  }
};

TEST(Comm, LongChainsVisitEveryRankExactly) {
  comm world(MPI_COMM_WORLD);
  chain_state st;
  const auto p = world.make_local(st);
  constexpr std::uint32_t hops = 5000;
  // One chain starts on every rank; chain s visits s+1 .. s+hops+1 (mod size), so each rank is
  // visited exactly hops+1 times in total.
  world.async((world.rank() + 1) % world.size(), step{p}, hops);
  world.barrier();
  EXPECT_EQ(st.visits, hops + 1);
  EXPECT_EQ(world.all_reduce_sum(st.finished), static_cast<std::uint64_t>(world.size()));
}

// Counts visits per phase: after a barrier, every hop of that phase must have run (ranks that
// leave the barrier first may already have started the next phase, so phases count apart).
struct phased_step {
  local_ptr<std::vector<std::uint64_t>> visits;
  void operator()(comm& c, std::uint32_t phase, std::uint32_t left) const {
    ++(*visits)[phase];
    if (left > 0) c.async((c.rank() + 1) % c.size(), *this, phase, left - 1);
  }
};

TEST(Comm, RepeatedBarriersSeeEveryMessageOfTheirPhase) {
  comm world(MPI_COMM_WORLD);
  constexpr std::uint32_t phases = 40;
  std::vector<std::uint64_t> visits(phases + 1, 0);
  const auto p = world.make_local(visits);
  for (std::uint32_t phase = 1; phase <= phases; ++phase) {
    const std::uint32_t hops = phase * 7;
    world.async((world.rank() + 1) % world.size(), phased_step{p}, phase, hops);
    world.barrier();
    // If barrier() returned before every hop of this phase ran, this count would be short.
    ASSERT_EQ(visits[phase], hops + 1) << "phase " << phase;
  }
  for (int i = 0; i < 10; ++i) world.barrier();  // barriers with no traffic at all
  EXPECT_EQ(visits[0], 0u);
}

struct a2a_state {
  std::vector<std::uint64_t> from;      // messages received per source
  std::vector<std::uint64_t> checksum;  // per source
  std::uint64_t bad = 0;
};

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  return x;
}

TEST(Comm, AllToAllDeliversEveryMessageWithItsArguments) {
  comm world(MPI_COMM_WORLD);
  a2a_state st;
  st.from.assign(static_cast<std::size_t>(world.size()), 0);
  st.checksum.assign(static_cast<std::size_t>(world.size()), 0);
  const auto p = world.make_local(st);
  constexpr std::uint64_t per_pair = 20000;
  for (std::uint64_t i = 0; i < per_pair; ++i) {
    for (int d = 0; d < world.size(); ++d) {
      world.async(
          d,
          [p](int src, std::uint64_t seq, std::uint64_t tag) {
            auto& s = *p;
            if (tag != mix(seq * 131 + static_cast<std::uint64_t>(src))) ++s.bad;
            ++s.from[static_cast<std::size_t>(src)];
            s.checksum[static_cast<std::size_t>(src)] += seq;
          },
          world.rank(), i, mix(i * 131 + static_cast<std::uint64_t>(world.rank())));
    }
  }
  world.barrier();
  EXPECT_EQ(st.bad, 0u);
  for (int s = 0; s < world.size(); ++s) {
    EXPECT_EQ(st.from[static_cast<std::size_t>(s)], per_pair) << "from rank " << s;
    EXPECT_EQ(st.checksum[static_cast<std::size_t>(s)], per_pair * (per_pair - 1) / 2);
  }
  const stats g = world.global_stats();
  EXPECT_EQ(g.msgs_sent, g.msgs_executed);
  EXPECT_EQ(g.msgs_sent, per_pair * static_cast<std::uint64_t>(world.size() * world.size()));
  EXPECT_EQ(g.bytes_sent, g.bytes_executed);
  EXPECT_GT(g.buffers_flushed + g.buffers_local, 0u);
  // Relays happen exactly when routing is on, messages cross nodes and some node has more
  // than one rank (with one rank per node the remote hop lands on the destination itself).
  // ctest states the expectation of each configuration (BUDDY_TEST_EXPECT_RELAY); both must
  // agree, so a matrix entry meant to relay cannot silently test nothing beyond routing none.
  const int nodes = world.topology().node_count();
  // In offload mode the engines route: app ranks never relay.
  const bool relays = world.config().mode == run_mode::inline_mode &&
                      world.config().route != routing::none && nodes > 1 && nodes < world.size();
  if (const char* want = std::getenv("BUDDY_TEST_EXPECT_RELAY")) {
    ASSERT_EQ(relays, std::string(want) == "1") << "layout: " << nodes << " nodes";
  }
  if (relays) {
    EXPECT_GT(g.msgs_relayed, 0u);
  } else {
    EXPECT_EQ(g.msgs_relayed, 0u);
  }
}

TEST(Comm, BroadcastRunsOnEveryRankIncludingTheSender) {
  comm world(MPI_COMM_WORLD);
  std::vector<std::uint64_t> got(static_cast<std::size_t>(world.size()), 0);
  const auto p = world.make_local(got);
  for (int round = 0; round < 3; ++round) {
    world.async_bcast(
        [p](int src, std::string text) {
          if (text == "hello from " + std::to_string(src)) ++(*p)[static_cast<std::size_t>(src)];
        },
        world.rank(), "hello from " + std::to_string(world.rank()));
  }
  world.barrier();
  for (int s = 0; s < world.size(); ++s) EXPECT_EQ(got[static_cast<std::size_t>(s)], 3u);
}

TEST(Comm, Reductions) {
  comm world(MPI_COMM_WORLD);
  // Registered before any rank can send to it: the reductions below serve arriving messages.
  std::uint64_t hits = 0;
  const auto p = world.make_local(hits);
  const int n = world.size();
  EXPECT_EQ(world.all_reduce_sum(world.rank() + 1), n * (n + 1) / 2);
  EXPECT_EQ(world.all_reduce_min(world.rank() + 10), 10);
  EXPECT_EQ(world.all_reduce_max(world.rank() * 2.5), (n - 1) * 2.5);
  EXPECT_EQ(world.all_reduce_sum(std::uint64_t{1} << 40), static_cast<std::uint64_t>(n) << 40);
  for (int i = 0; i < 1000; ++i) world.async((world.rank() + i) % n, [p]() { ++*p; });
  // Messages keep being served while ranks wait in a reduction; its value is taken at the call.
  const std::uint64_t early = world.all_reduce_sum(std::uint64_t{1});
  EXPECT_EQ(early, static_cast<std::uint64_t>(n));
  world.barrier();
  EXPECT_EQ(world.all_reduce_sum(hits), 1000ull * static_cast<std::uint64_t>(n));
}

struct point {
  double x, y;
  int id;
};

struct kinds_state {
  int ok = 0;
  int bad = 0;
};

TEST(Comm, EveryArgumentKindArrivesIntact) {
  comm world(MPI_COMM_WORLD);
  kinds_state st;
  const auto p = world.make_local(st);
  const int to = (world.rank() + 1) % world.size();
  const std::vector<std::string> words = {"", "a", std::string(300, 'z')};
  const std::vector<std::pair<int, std::string>> pairs = {{1, "one"}, {2, "two"}};
  world.async(
      to,
      [p](std::string s, std::vector<int> v, std::array<std::uint16_t, 3> a,
          std::pair<int, double> pr, std::tuple<char, std::string, std::uint64_t> t, point pt,
          std::vector<std::string> ws, std::vector<std::pair<int, std::string>> ps,
          std::array<std::string, 2> as, bool flag) {
        const bool good = s == "text" && v == std::vector<int>{1, -2, 3} &&
                          a == std::array<std::uint16_t, 3>{7, 8, 9} && pr.first == 5 &&
                          pr.second == 0.25 && std::get<0>(t) == 'q' && std::get<1>(t) == "tuple" &&
                          std::get<2>(t) == 1ull << 50 && pt.x == 1.5 && pt.y == -2.5 &&
                          pt.id == 42 && ws.size() == 3 && ws[2] == std::string(300, 'z') &&
                          ps.size() == 2 && ps[1].second == "two" && as[0] == "x" &&
                          as[1] == "yy" && flag;
        ++(good ? p->ok : p->bad);
      },
      std::string("text"), std::vector<int>{1, -2, 3}, std::array<std::uint16_t, 3>{7, 8, 9},
      std::pair<int, double>{5, 0.25},
      std::tuple<char, std::string, std::uint64_t>{'q', "tuple", 1ull << 50}, point{1.5, -2.5, 42},
      words, pairs, std::array<std::string, 2>{"x", "yy"}, true);
  // Empty containers and a capture-carrying handler with no arguments.
  const std::uint64_t token = 0xabcdef;
  world.async(
      to,
      [p, token](std::vector<double> v, std::string s) {
        ++((v.empty() && s.empty() && token == 0xabcdef) ? p->ok : p->bad);
      },
      std::vector<double>{}, std::string{});
  world.barrier();
  EXPECT_EQ(st.ok, 2);
  EXPECT_EQ(st.bad, 0);
}

TEST(Comm, RecordsLargerThanTheBufferBudget) {
  comm world(MPI_COMM_WORLD, with_budget_kb(4));
  std::uint64_t sum = 0;
  const auto p = world.make_local(sum);
  std::vector<std::uint64_t> big(100000);  // 800 KB, far above a 4 KiB budget
  std::iota(big.begin(), big.end(), static_cast<std::uint64_t>(world.rank()));
  for (int d = 0; d < world.size(); ++d) {
    world.async(
        d,
        [p](const std::vector<std::uint64_t>& v) {
          *p += std::accumulate(v.begin(), v.end(), std::uint64_t{0});
        },
        big);
    world.async(
        d, [p](std::uint64_t x) { *p += x; }, std::uint64_t{1});  // small ones between
  }
  world.barrier();
  const std::uint64_t n = big.size();
  std::uint64_t expected = 0;
  for (int r = 0; r < world.size(); ++r)
    expected += n * (n - 1) / 2 + n * static_cast<std::uint64_t>(r) + 1;
  EXPECT_EQ(sum, expected);
  // Inline mode sends such records alone; offload rings take them whole.
  if (world.config().mode == run_mode::inline_mode) {
    EXPECT_GT(world.global_stats().large_sends, 0u);
  }
}

TEST(Comm, TinyBudgetFloodMakesProgressUnderBackpressure) {
  comm world(MPI_COMM_WORLD, with_budget_kb(1));
  std::uint64_t count = 0;
  const auto p = world.make_local(count);
  constexpr std::uint64_t n = 100000;
  for (std::uint64_t i = 0; i < n; ++i) {
    // Each message also sends one more (handlers send while senders are throttled).
    world.async(
        static_cast<int>(i % static_cast<std::uint64_t>(world.size())),
        [p](comm& c, std::uint64_t v) {
          ++*p;
          if (v % 2 == 0)
            c.async(static_cast<int>(v / 2 % static_cast<std::uint64_t>(c.size())),
                    [p]() { ++*p; });
        },
        i);
  }
  world.barrier();
  EXPECT_EQ(world.all_reduce_sum(count), (n + n / 2) * static_cast<std::uint64_t>(world.size()));
  const stats g = world.global_stats();
  EXPECT_EQ(g.msgs_sent, g.msgs_executed);
}

TEST(Comm, RequestReplyThroughTheCommArgument) {
  comm world(MPI_COMM_WORLD);
  std::vector<std::uint64_t> table(1000);
  for (std::size_t i = 0; i < table.size(); ++i)
    table[i] = mix(i + 1000 * static_cast<std::size_t>(world.rank()));
  std::vector<std::uint64_t> answers(500, 0);
  const auto t = world.make_local(table);
  const auto a = world.make_local(answers);
  for (std::uint32_t j = 0; j < answers.size(); ++j) {
    const int owner = static_cast<int>(j % static_cast<std::uint32_t>(world.size()));
    world.async(
        owner,
        [t, a](comm& c, int from, std::uint32_t slot, std::uint32_t idx) {
          c.async(
              from, [a](std::uint32_t s, std::uint64_t v) { (*a)[s] = v; }, slot, (*t)[idx]);
        },
        world.rank(), j, j * 2);
  }
  world.barrier();
  for (std::uint32_t j = 0; j < answers.size(); ++j) {
    const auto owner = j % static_cast<std::uint32_t>(world.size());
    ASSERT_EQ(answers[j], mix(j * 2 + 1000ull * owner)) << "slot " << j;
  }
}

// A rank waiting for a reply only calls progress(): the request and the reply sit in half-full
// buffers until a rank flushes them while idle. 50 round trips in a row, no barrier between.
TEST(Comm, ProgressAloneCompletesRequestAndReply) {
  comm world(MPI_COMM_WORLD);
  std::uint64_t got = 0;
  const auto g = world.make_local(got);
  world.barrier();
  const int to = (world.rank() + 1) % world.size();
  const double deadline = now_s() + 30;
  for (std::uint64_t round = 1; round <= 50; ++round) {
    world.async(
        to,
        [g](comm& c, int from, std::uint64_t r) {
          c.async(
              from, [g](std::uint64_t v) { *g = v; }, r);
        },
        world.rank(), round);
    while (got != round && now_s() < deadline) world.progress();
    ASSERT_EQ(got, round) << "no reply within 30 s using progress() alone";
  }
  world.barrier();
}

// Handles are per comm: with two comms alive, index 0 of each names that comm's own object,
// and destroying one comm leaves the other's handles working.
TEST(Comm, LocalPointersOfTwoCommsStayApart) {
  comm a(MPI_COMM_WORLD);
  std::uint64_t in_a = 0;
  const auto pa = a.make_local(in_a);
  {
    comm b(MPI_COMM_WORLD);
    std::uint64_t in_b = 0;
    const auto pb = b.make_local(in_b);
    ASSERT_EQ(pa.index(), pb.index());  // same index, different objects
    const int to = (a.rank() + 1) % a.size();
    for (int i = 0; i < 10; ++i) a.async(to, [pa]() { ++*pa; });
    for (int i = 0; i < 3; ++i) b.async(to, [pb]() { ++*pb; });
    a.barrier();
    b.barrier();
    EXPECT_EQ(in_a, 10u);
    EXPECT_EQ(in_b, 3u);
  }
  a.async((a.rank() + 1) % a.size(), [pa]() { ++*pa; });
  a.barrier();
  EXPECT_EQ(in_a, 11u);
}

// A handler that throws: the error reaches the caller, and the comm stays usable afterwards
// (not stuck "inside a handler", and later barriers still terminate).
TEST(Comm, HandlerThatThrowsLeavesTheCommUsable) {
  comm world(MPI_COMM_WORLD);
  std::uint64_t runs = 0;
  const auto p = world.make_local(runs);
  world.async(world.rank(), []() { throw error("handler failed on purpose"); });
  EXPECT_THROW(world.barrier(), error);
  EXPECT_NO_THROW(world.barrier());
  world.async((world.rank() + 1) % world.size(), [p]() { ++*p; });
  EXPECT_NO_THROW(world.barrier());
  EXPECT_EQ(runs, 1u);
}

// Consecutive messages of one handler (same function object) to one rank share a frame
// (wire.hpp): a fixed-size message costs its arguments plus a share of one header, a
// variable-size one its varint length more. Every message still arrives with its arguments.
TEST(Comm, RunsOfOneHandlerPayOneHeaderPerFrame) {
  comm world(MPI_COMM_WORLD);
  struct seen_state {
    std::uint64_t fixed = 0, sum = 0, texts = 0, text_bytes = 0;
  } st;
  const auto p = world.make_local(st);
  const int to = (world.rank() + 1) % world.size();
  constexpr std::uint64_t n = 50000;
  world.barrier();
  const stats s0 = world.local_stats();
  for (std::uint64_t i = 0; i < n; ++i) {
    world.async(
        to,
        [p](std::uint64_t v) {
          ++p->fixed;
          p->sum += v;
        },
        i);
  }
  world.barrier();
  const stats s1 = world.local_stats();
  for (std::uint64_t i = 0; i < n; ++i) {
    world.async(
        to,
        [p](const std::string& t) {
          ++p->texts;
          p->text_bytes += t.size();
        },
        std::string(i % 7, 'x'));
  }
  world.barrier();
  const stats s2 = world.local_stats();
  EXPECT_EQ(st.fixed, n);
  EXPECT_EQ(st.sum, n * (n - 1) / 2);
  EXPECT_EQ(st.texts, n);
  EXPECT_EQ(st.text_bytes, (n / 7) * 21 + (n % 7) * ((n % 7) - 1) / 2);
  // 8 argument bytes each; one 16-byte frame prefix per frame of up to 4 KiB.
  const std::uint64_t fixed_bytes = s1.bytes_sent - s0.bytes_sent;
  EXPECT_GE(fixed_bytes, 8 * n);
  EXPECT_LT(fixed_bytes, 9 * n);
  // A 1-byte varint length, count:u32 and the characters each.
  const std::uint64_t text_bytes = s2.bytes_sent - s1.bytes_sent;
  EXPECT_GE(text_bytes, 5 * n + st.text_bytes);
  EXPECT_LT(text_bytes, 6 * n + st.text_bytes);
}

// Runs open and close as the sender switches handler, function object bytes and destination
// (router::open_run): interleaved fixed- and variable-size messages to every rank, with three
// captured values, all arrive with their arguments, and the bytes executed everywhere equal the
// bytes sent (every frame's length was written when its run closed).
TEST(Comm, InterleavedRunsKeepEveryMessageAndByte) {
  comm world(MPI_COMM_WORLD);
  struct seen_state {
    std::uint64_t count[3] = {0, 0, 0}, sum[3] = {0, 0, 0}, texts = 0, text_bytes = 0;
  } st;
  const auto p = world.make_local(st);
  constexpr std::uint64_t n = 60000;
  world.barrier();
  const stats s0 = world.global_stats();
  std::uint64_t text_bytes = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    const int to = static_cast<int>((i / 5) % static_cast<std::uint64_t>(world.size()));
    const std::uint32_t k = static_cast<std::uint32_t>((i / 3) % 3);
    if (i % 11 == 0) {
      world.async(
          to,
          [p](const std::string& t) {
            ++p->texts;
            p->text_bytes += t.size();
          },
          std::string(i % 13, 'y'));
      text_bytes += i % 13;
    } else {
      world.async(
          to,
          [p, k](std::uint64_t v) {
            ++p->count[k];
            p->sum[k] += v;
          },
          i);
    }
  }
  world.barrier();
  const stats s1 = world.global_stats();
  std::uint64_t count[3] = {0, 0, 0}, sum[3] = {0, 0, 0}, texts = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    if (i % 11 == 0) {
      ++texts;
    } else {
      ++count[(i / 3) % 3];
      sum[(i / 3) % 3] += i;
    }
  }
  for (int k = 0; k < 3; ++k) {
    EXPECT_EQ(world.all_reduce_sum(st.count[k]),
              count[k] * static_cast<std::uint64_t>(world.size()));
    EXPECT_EQ(world.all_reduce_sum(st.sum[k]), sum[k] * static_cast<std::uint64_t>(world.size()));
  }
  EXPECT_EQ(world.all_reduce_sum(st.texts), texts * static_cast<std::uint64_t>(world.size()));
  EXPECT_EQ(world.all_reduce_sum(st.text_bytes),
            text_bytes * static_cast<std::uint64_t>(world.size()));
  EXPECT_EQ(s1.msgs_executed - s0.msgs_executed, n * static_cast<std::uint64_t>(world.size()));
  EXPECT_EQ(s1.bytes_executed - s0.bytes_executed, s1.bytes_sent - s0.bytes_sent);
}

// A message whose handler throws is one message of its frame: the others still run, the error
// reaches the caller once, and every message counts as executed (termination still holds).
// Each message gets its own copy of the function object, as if it had travelled alone.
TEST(Comm, AThrowingMessageDoesNotStopTheRestOfItsFrame) {
  comm world(MPI_COMM_WORLD);
  struct run_state {
    std::uint64_t ran = 0, fresh = 0;
  } st;
  const auto p = world.make_local(st);
  const int to = (world.rank() + 1) % world.size();
  for (std::uint32_t i = 0; i < 100; ++i) {
    world.async(
        to,
        [p, calls = std::uint32_t{0}](std::uint32_t k) mutable {
          if (++calls == 1) ++p->fresh;
          ++p->ran;
          if (k == 3 || k == 60) throw error("message " + std::to_string(k) + " failed on purpose");
        },
        i);
  }
  EXPECT_THROW(world.barrier(), error);
  EXPECT_NO_THROW(world.barrier());
  EXPECT_EQ(st.ran, 100u);
  EXPECT_EQ(st.fresh, 100u);
  const stats g = world.global_stats();
  EXPECT_EQ(g.msgs_executed, g.msgs_sent);
}

// A handler's prefetch member sees each message's arguments once, before that message runs; a
// prefetch that throws is dropped and its message still runs. Handlers without one (and with
// arguments of no fixed size) are unaffected.
struct prefetch_state {
  std::vector<std::uint8_t> hinted;  // by message number
  std::uint64_t hints = 0, ran = 0, hinted_before = 0, sum = 0;
};
struct hinted_add {
  local_ptr<prefetch_state> st;
  void operator()(std::uint32_t k, std::uint64_t v) const {
    ++st->ran;
    st->hinted_before += st->hinted[k];
    st->sum += v;
  }
  void prefetch(std::uint32_t k, std::uint64_t) const {
    ++st->hints;
    ++st->hinted[k];
    if (k % 1000 == 7) throw error("a failing hint is only a hint");
  }
};
TEST(Comm, PrefetchHintSeesEveryMessageBeforeItRuns) {
  comm world(MPI_COMM_WORLD);
  constexpr std::uint32_t n = 20000;  // per sender
  prefetch_state st;
  st.hinted.assign(static_cast<std::size_t>(n) * static_cast<std::size_t>(world.size()), 0);
  const auto p = world.make_local(st);
  world.barrier();
  for (std::uint32_t i = 0; i < n; ++i) {
    const std::uint32_t k = static_cast<std::uint32_t>(world.rank()) * n + i;
    world.async((world.rank() + 1) % world.size(), hinted_add{p}, k, std::uint64_t{i});
  }
  world.barrier();
  EXPECT_EQ(st.ran, n);
  EXPECT_EQ(st.hints, n);
  EXPECT_EQ(st.hinted_before, n);
  EXPECT_EQ(st.sum, std::uint64_t{n} * (n - 1) / 2);
  const int from = (world.rank() + world.size() - 1) % world.size();
  std::uint64_t once = 0;
  for (std::uint32_t i = 0; i < n; ++i) {
    once += st.hinted[static_cast<std::size_t>(from) * n + i] == 1;
  }
  EXPECT_EQ(once, n);
}

// global_stats() waits for the messages sent just before it: sent == executed in the sum.
TEST(Comm, GlobalStatsCountMessagesSentJustBefore) {
  comm world(MPI_COMM_WORLD);
  std::uint64_t runs = 0;
  const auto p = world.make_local(runs);
  world.barrier();
  for (int i = 0; i < 100; ++i) world.async((world.rank() + 1) % world.size(), [p]() { ++*p; });
  const stats g = world.global_stats();  // no barrier before it
  EXPECT_EQ(g.msgs_sent, 100u * static_cast<std::uint64_t>(world.size()));
  EXPECT_EQ(g.msgs_executed, g.msgs_sent);
  EXPECT_EQ(runs, 100u);
}

struct text_probe {
  local_ptr<std::uint64_t> hits;
  void operator()(const std::string& s) const {
    if (s == "ab" || s == "abc") ++*hits;
  }
};

// String literals travel as std::string: literals of different lengths share one handler
// (char[3] and char[4] would otherwise each instantiate and register their own).
TEST(Comm, StringLiteralsShareOneStringHandler) {
  comm world(MPI_COMM_WORLD);
  std::uint64_t hits = 0;
  const auto p = world.make_local(hits);
  const int to = (world.rank() + 1) % world.size();
  world.async(to, text_probe{p}, "ab");
  world.async(to, text_probe{p}, "abc");
  world.barrier();
  EXPECT_EQ(hits, 2u);
  const auto& reg = detail::handler_registry::instance();
  int probes = 0;
  for (std::uint32_t id = 0; id < reg.size(); ++id) {
    probes += reg.name(id).find("text_probe") != std::string::npos;
  }
  EXPECT_EQ(probes, 1);
}

TEST(Comm, MisuseIsAClearError) {
  comm world(MPI_COMM_WORLD);
  EXPECT_THROW(world.async(world.size(), []() {}), error);
  EXPECT_THROW(world.async(-1, []() {}), error);
  int flag = 0;
  const auto p = world.make_local(flag);
  world.async(world.rank(), [p](comm& c) {
    try {
      c.barrier();
    } catch (const error&) {
      *p = 1;
    }
  });
  world.barrier();
  EXPECT_EQ(flag, 1);
  local_ptr<double> wrong;
  EXPECT_THROW((void)wrong.get(), error);
}

}  // namespace
}  // namespace buddy::msg

int main(int argc, char** argv) {
  return buddy::msg::testing::run_all(argc, argv);
}
