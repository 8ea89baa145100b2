// buddy-engine threads without MPI: the handoff queue between two threads, and an engine's
// lanes split between shard threads (one thread per SPSC ring end) while app-rank threads
// write and read their rings. Every record must arrive exactly once, in order per (source,
// channel), at the right rank or at the remote sink. Runs under TSan (label `concurrent`).
#include "buddy/msg_engine/detail/shard.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "buddy/base/clock.hpp"
#include "buddy/msg/transport/offload_link.hpp"
#include "buddy/msg/transport/wire.hpp"
#include "buddy/msg_engine/detail/handoff.hpp"
#include "buddy/qp/backoff.hpp"
#include "buddy/qp/segment.hpp"
#include "buddy_test_util.hpp"

namespace buddy::msg_engine::detail {
namespace {

namespace off = msg::offload;

// A producer thread appends numbered records of varying size through small batches and a
// 4-slot queue (so batches wait in the producer), a consumer thread checks them.
TEST(Handoff, TwoThreadsEveryRecordOnceInOrder) {
  handoff h(256, 4);
  const std::uint64_t n = 200000 / static_cast<std::uint64_t>(buddy::testing::kScale);
  std::atomic<bool> failed{false};
  std::thread consumer([&] {
    qp::Backoff backoff;
    std::uint64_t next = 0;
    while (next < n && !failed) {
      handoff::batch* b = h.take();
      if (b == nullptr) {
        backoff.pause();
        continue;
      }
      backoff.reset();
      msg::wire::for_each_record(b->data(), b->size(), 1u << 30, [&](const msg::wire::record& r) {
        std::uint64_t got = 0;
        if (r.length >= 8) std::memcpy(&got, r.payload, 8);
        if (got != next || r.dest != next % 1000 || r.length != 8 + (next % 5) * 16) failed = true;
        ++next;
      });
      h.give_back(b);
      if (next % 997 == 0) std::this_thread::yield();  // a slow consumer: the queue fills
    }
  });
  std::vector<std::byte> p(8 + 4 * 16, std::byte{0x5a});
  qp::Backoff backoff;
  std::size_t max_waiting = 0;
  for (std::uint64_t i = 0; i < n; ++i) {
    std::memcpy(p.data(), &i, 8);
    h.append(static_cast<std::uint32_t>(i % 1000), static_cast<std::uint32_t>(8 + (i % 5) * 16),
             p.data());
    if (i % 16 == 0) h.flush();
    max_waiting = std::max(max_waiting, h.waiting());
  }
  while ((h.flush(), h.waiting() != 0) && !failed) backoff.pause();
  consumer.join();
  EXPECT_FALSE(failed.load()) << "a record arrived out of order, changed or twice";
  EXPECT_EQ(h.records(), n);
  EXPECT_GT(max_waiting, 0u) << "the queue never filled: the test did not exercise waiting";
}

// Ranks 0..2 are served here (2 channels each: 6 lanes on `threads` shard threads), ranks 3 and
// 4 by "another engine" (the remote sink of shard 0). Each rank thread sends `per_rank` records
// per channel to pseudo-random ranks and reads its inbound rings; 16 KiB rings, so outbound
// rings fill and deliveries are held back.
void run_engine_threads(std::size_t threads) {
  constexpr std::uint32_t app_count = 5, served = 3;
  const std::uint64_t per_rank = 20000 / static_cast<std::uint64_t>(buddy::testing::kScale);
  std::vector<qp::Segment> segs;
  for (std::uint32_t r = 0; r < served; ++r) {
    segs.push_back(
        qp::Segment::create(buddy::testing::unique_name("shard"), off::segment_layout(16)));
  }
  // Who gets what: dest of record i of (rank, channel); expected counts per destination.
  auto dest_of = [](std::uint32_t r, std::uint32_t c, std::uint64_t i) {
    return static_cast<std::uint32_t>((i * 2654435761u + r * 7 + c * 3) >> 7) % app_count;
  };
  std::vector<std::uint64_t> expect(app_count * off::channels, 0);  // by destination id
  for (std::uint32_t r = 0; r < served; ++r) {
    for (std::uint32_t c = 0; c < off::channels; ++c) {
      for (std::uint64_t i = 0; i < per_rank; ++i) ++expect[c * app_count + dest_of(r, c, i)];
    }
  }

  lane_map map;
  map.app_count = app_count;
  map.owner.assign(app_count * off::channels, -1);
  map.inbound.assign(app_count * off::channels, nullptr);
  std::vector<std::unique_ptr<delivery>> del;
  std::vector<std::unique_ptr<qp::RecordConsumer>> outs;
  std::vector<std::unique_ptr<shard>> shards;
  for (std::size_t t = 0; t < threads; ++t) {
    shards.push_back(std::make_unique<shard>(static_cast<int>(t), map));
  }
  for (std::uint32_t r = 0; r < served; ++r) {
    for (std::uint32_t c = 0; c < off::channels; ++c) {
      const std::uint32_t id = c * app_count + r;
      del.push_back(std::make_unique<delivery>(segs[r].response_producer<qp::Record>(c)));
      outs.push_back(std::make_unique<qp::RecordConsumer>(segs[r].request_consumer<qp::Record>(c)));
      map.owner[id] = static_cast<int>((c * served + r) % threads);
      map.inbound[id] = del.back().get();
      shards[static_cast<std::size_t>(map.owner[id])]->add_lane(static_cast<int>(r), c,
                                                                outs.back().get());
    }
  }
  std::vector<std::unique_ptr<handoff>> queues(threads * threads);
  for (std::size_t a = 0; a < threads; ++a) {
    for (std::size_t b = 0; b < threads; ++b) {
      if (a != b) queues[a * threads + b] = std::make_unique<handoff>(1024, 8);
    }
  }
  for (std::size_t t = 0; t < threads; ++t) {
    std::vector<handoff*> to(threads), from(threads);
    for (std::size_t u = 0; u < threads; ++u) {
      to[u] = queues[t * threads + u].get();
      from[u] = queues[u * threads + t].get();
    }
    shards[t]->connect(std::move(to), std::move(from));
  }
  // The remote sink runs on shard 0's thread only: plain counters.
  struct sink {
    std::vector<std::uint64_t> next;  // by (source rank, channel, destination id)
    std::atomic<std::uint64_t> count{0};
    bool bad = false;  // read after the shard threads joined
  } remote;
  remote.next.assign(served * off::channels * app_count * off::channels, 0);
  shards[0]->set_remote(
      [](void* ctx, std::uint32_t dest, std::uint32_t length, const std::byte* p) {
        auto& s = *static_cast<sink*>(ctx);
        std::uint32_t src = 0, ch = 0;
        std::uint64_t seq = 0;
        if (length != 16) {
          s.bad = true;
          return;
        }
        std::memcpy(&src, p, 4);
        std::memcpy(&ch, p + 4, 4);
        std::memcpy(&seq, p + 8, 8);
        if (src >= served || ch >= off::channels || dest % app_count < served) {
          s.bad = true;
          return;
        }
        std::uint64_t& next = s.next[(src * off::channels + ch) * app_count * off::channels + dest];
        if (seq != next) s.bad = true;
        ++next;
        s.count.fetch_add(1, std::memory_order_release);
      },
      &remote);

  std::atomic<bool> stop{false}, failed{false};
  std::vector<std::thread> engine_threads;
  for (std::size_t t = 0; t < threads; ++t) {
    engine_threads.emplace_back([&, t] {
      shard& sh = *shards[t];
      qp::Backoff backoff({.spins = 64, .yields = 200, .min_sleep_us = 1, .max_sleep_us = 100});
      try {
        while (!stop.load(std::memory_order_acquire)) {
          bool w = sh.drain_rings();
          w = sh.take_handoffs() || w;
          w = sh.retry_deliveries() || w;
          w = sh.flush_handoffs() || w;
          if (w) {
            backoff.reset();
          } else {
            backoff.pause();
          }
        }
      } catch (...) {
        failed = true;
      }
    });
  }

  std::vector<std::thread> ranks;
  for (std::uint32_t r = 0; r < served; ++r) {
    ranks.emplace_back([&, r] {
      std::vector<qp::RecordProducer> out;
      std::vector<qp::RecordConsumer> in;
      for (std::uint32_t c = 0; c < off::channels; ++c) {
        out.push_back(segs[r].request_producer<qp::Record>(c));
        in.push_back(segs[r].response_consumer<qp::Record>(c));
      }
      // next[(src, channel)]: next sequence number expected from that source on that channel.
      std::vector<std::uint64_t> next(served * off::channels, 0);
      std::vector<std::uint64_t> seq(off::channels * app_count, 0);  // sent per (c, dest)
      std::uint64_t got = 0;
      const std::uint64_t want = expect[r] + expect[app_count + r];
      auto receive = [&] {
        bool any = false;
        for (std::uint32_t c = 0; c < off::channels; ++c) {
          while (auto rec = in[c].front()) {
            msg::wire::for_each_record(rec->data(), rec->size(), app_count,
                                       [&](const msg::wire::record& w) {
                                         std::uint32_t src = 0, ch = 0;
                                         std::uint64_t s = 0;
                                         std::memcpy(&src, w.payload, 4);
                                         std::memcpy(&ch, w.payload + 4, 4);
                                         std::memcpy(&s, w.payload + 8, 8);
                                         if (w.dest != r || ch != c || src >= served ||
                                             s != next[src * off::channels + c]++) {
                                           failed = true;
                                         }
                                         ++got;
                                       });
            in[c].pop();
            any = true;
          }
          in[c].publish();
        }
        return any;
      };
      qp::Backoff backoff({.spins = 64, .yields = 16, .min_sleep_us = 1, .max_sleep_us = 100});
      for (std::uint64_t i = 0; i < per_rank && !failed; ++i) {
        for (std::uint32_t c = 0; c < off::channels; ++c) {
          const std::uint32_t d = dest_of(r, c, i);
          std::byte rec[msg::wire::header_bytes + 16];
          msg::wire::write_header(rec, d, 16);
          const std::uint64_t s = seq[c * app_count + d]++;
          std::memcpy(rec + 8, &r, 4);
          std::memcpy(rec + 12, &c, 4);
          std::memcpy(rec + 16, &s, 8);
          while (!out[c].try_push(rec, sizeof rec) && !failed) {
            if (receive()) {
              backoff.reset();
            } else {
              backoff.pause();
            }
          }
        }
      }
      while (got < want && !failed) {
        if (receive()) {
          backoff.reset();
        } else {
          backoff.pause();
        }
      }
      if (got != want) failed = true;
    });
  }
  for (auto& t : ranks) t.join();
  const std::uint64_t remote_want =
      expect[3] + expect[4] + expect[app_count + 3] + expect[app_count + 4];
  // The ranks got everything; the remote sink (shard 0's thread) gets the rest.
  qp::Backoff backoff({.spins = 64, .yields = 16, .min_sleep_us = 1, .max_sleep_us = 1000});
  const std::uint64_t deadline = base::monotonic_ns() + 60'000'000'000ull;
  while (remote.count.load(std::memory_order_acquire) < remote_want && !failed &&
         base::monotonic_ns() < deadline) {
    backoff.pause();
  }
  stop = true;
  for (auto& t : engine_threads) t.join();
  // Nothing may be left anywhere in the engine.
  for (auto& q : queues) {
    if (!q) continue;
    EXPECT_EQ(q->waiting(), 0u);
    EXPECT_EQ(q->take(), nullptr);
  }
  EXPECT_FALSE(failed.load()) << "a record arrived out of order, twice or at the wrong rank";
  EXPECT_FALSE(remote.bad) << "a remote record arrived out of order or changed";
  EXPECT_EQ(remote.count.load(), remote_want);
  std::uint64_t in = 0, local = 0, rem = 0, delivered = 0, handed = 0;
  for (auto& sh : shards) {
    in += sh->counters().records_in;
    local += sh->counters().records_local;
    rem += sh->counters().records_remote;
    delivered += sh->counters().records_delivered;
    handed += sh->counters().records_handed;
  }
  EXPECT_EQ(in, per_rank * served * off::channels);
  EXPECT_EQ(rem, remote_want);
  EXPECT_EQ(local + rem, in);
  EXPECT_EQ(delivered, local);
  if (threads > 1) {
    EXPECT_GT(handed, 0u) << "no record crossed between threads";
  }
  for (auto& d : del) EXPECT_FALSE(d->holding());
}

TEST(EngineThreads, OneThreadServesEveryLane) {
  run_engine_threads(1);
}
TEST(EngineThreads, TwoThreadsSplitTheLanes) {
  run_engine_threads(2);
}
TEST(EngineThreads, ThreeThreadsSplitTheLanes) {
  run_engine_threads(3);
}

}  // namespace
}  // namespace buddy::msg_engine::detail
