// The engine control block: the part of a buddykv server's segment (the extra area of its KV
// queue segment, docs/protocol.md section 4) through which the host and the engine process,
// which may run on a DPU, agree on everything besides requests and responses:
//  - host -> engine, written before the engine starts and read-only afterwards: the placement's
//    inputs (the engine recomputes the same Placement and checks its digest), the store and
//    serving knobs, the address and ports to bind;
//  - engine -> host: its state (starting, ready, failed with a one-line reason, exited), the ports
//    it bound, each engine thread's counters and CPU time, and the engine store's statistics;
//  - host -> engine at the end: the stop flag;
//  - the memcached front end of the offloaded designs (EngineMemcached, at the end): the TCP port
//    the engine serves memcached on and the host's serving ports (host -> engine, before the
//    engine starts); the port it bound and its counters (engine -> host).
// Who the engine is and whether it still runs is not here: the engine holds the segment's
// attacher side (qp liveness: pid, start time, heartbeat), the host its creator side.
// All shared fields are lock-free atomics (address-free, so valid across processes).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "buddy/base/shared_words.hpp"
#include "buddy/kv/serving/memcached_front_end.hpp"
#include "buddy/kv/serving/placement.hpp"
#include "buddy/kv/serving/stats.hpp"
#include "buddy/kv/serving/store_settings.hpp"
#include "buddy/kv/serving/worker_config.hpp"
#include "buddy/kv/store/stats.hpp"
#include "buddy/kv/wire/control.hpp"

namespace buddy::kv::engine {

inline constexpr std::uint64_t kEngineBlockMagic = 0x314B4C42454E4742ull;  // "BGNEBLK1" in LE
// 2: liveness in the qp segment, oversize the last drop reason; 3: the memcached front end;
// 4: the queue pairs' epoch
inline constexpr std::uint32_t kEngineBlockVersion = 4;
inline constexpr std::uint32_t kMaxEngineThreads = 256;
inline constexpr std::uint32_t kMaxEngineCpus = 256;
inline constexpr std::uint32_t kMaxMapPorts = 512;  // serving ports of both sides together

enum class EngineState : std::uint32_t { starting = 0, ready = 1, failed = 2, exited = 3 };

static_assert(std::atomic<std::uint64_t>::is_always_lock_free);
static_assert(std::atomic<std::uint32_t>::is_always_lock_free);

// What the engine needs to build its side, as plain data. make() writes every field from the
// server's configuration parts and config(), store(), worker() and bind_address() read them back:
// no other code copies a field in or out.
struct EnginePlan {
  std::uint8_t design = 0;  // serving::Design
  std::uint8_t mode = 0;    // kv::Mode
  std::uint16_t reserved = 0;
  std::uint32_t host_threads = 0;
  std::uint32_t engine_threads = 0;
  std::uint32_t spare_threads = 0;
  std::uint32_t partitions_per_thread = 0;
  std::uint32_t engine_cpu_count = 0;
  std::array<std::int32_t, kMaxEngineCpus> engine_cpus{};
  std::uint64_t memory_bytes = 0;  // the engine store's budget (engine-only, shrd)
  std::uint64_t expected_items = 0;
  std::uint32_t max_datagram = 0;
  std::uint32_t burst = 0;
  std::uint32_t spins = 0;
  std::uint32_t wait_us = 0;
  std::uint32_t pipeline = 0;
  std::uint32_t pe_batch = 0;
  std::array<char, 64> bind{};                           // IPv4 address, NUL-terminated
  std::array<std::uint16_t, kMaxEngineThreads> ports{};  // engine thread i binds ports[i] (0: any)
  std::uint64_t placement_digest = 0;                    // digest(place(config()))

  // ports: engine thread i binds ports[i] (at most kMaxEngineThreads). Throws
  // std::invalid_argument when bind, the engine cpus or the ports do not fit the plan.
  static EnginePlan make(const serving::PlacementConfig& placement,
                         const serving::StoreSettings& store, const serving::WorkerConfig& worker,
                         std::size_t max_datagram, std::string_view bind,
                         std::span<const std::uint16_t> ports);

  serving::PlacementConfig config() const;  // host cpus are not the engine's business: left empty
  serving::StoreSettings store() const;
  serving::WorkerConfig worker() const;
  std::string bind_address() const;
};

// One engine thread's figures, on its own cache lines.
struct alignas(64) EngineThreadSlot {
  serving::SharedCounters counters;
  std::atomic<std::uint64_t> cpu_ns{0};
  std::atomic<std::uint32_t> port{0};  // the UDP port it serves (once ready)
};

// The memcached front end in the offloaded designs runs in the engine (docs/memcached.md, "Where
// it runs"). The host fills the first part before the engine starts; the engine the rest.
struct EngineMemcached {
  std::int32_t port = -1;  // TCP port of plan.bind to serve memcached on; -1: off, 0: any free
  std::uint32_t max_connections = 0;
  std::uint32_t map_ports = 0;  // the partition map's port count
  std::uint32_t reserved = 0;
  // Port index i of the partition map is served by the host on host_ports[i]; 0: an engine
  // thread's port (the engine knows those).
  std::array<std::uint16_t, kMaxMapPorts> host_ports{};
  alignas(64) std::atomic<std::uint32_t> bound_port{0};  // engine: the TCP port, once ready
  alignas(64) base::SharedWords<serving::MemcachedCounters> counters;  // engine: published
};

struct EngineBlock {
  std::uint64_t magic = 0;
  std::uint32_t version = 0;
  std::uint32_t bytes = 0;  // sizeof(EngineBlock) of the writer
  EnginePlan plan;
  alignas(64) std::atomic<std::uint32_t> state{0};  // EngineState
  std::atomic<std::uint32_t> stop{0};
  std::array<char, 256> error{};  // state failed: one line
  // The engine store (engine-only, shrd): totals and items per partition it holds.
  alignas(64) base::SharedWords<StatsSnapshot> store;  // StatsSnapshot's 9 words
  std::array<std::atomic<std::uint64_t>, wire::kMaxPartitions> partition_items{};
  std::array<EngineThreadSlot, kMaxEngineThreads> threads{};
  EngineMemcached memcached;
  // The queue pairs' epoch (version 4): written by the host before it starts an engine (1 for
  // the first, one more for each restart, after the pairs were emptied), and echoed by the
  // engine in engine_epoch when it is ready: an engine that echoes another epoch is not taken.
  alignas(64) std::atomic<std::uint64_t> epoch{0};
  std::atomic<std::uint64_t> engine_epoch{0};

  // Placement-constructs a block with `plan` in `area` (at least sizeof(EngineBlock) bytes).
  static EngineBlock* create(void* area, std::size_t bytes, const EnginePlan& plan);
  // The block in `area` of an attached segment; throws std::runtime_error (one line) when it is
  // missing, of another version, or its placement digest does not match this build's placement.
  static EngineBlock* attach(void* area, std::size_t bytes);

  EngineState current() const { return static_cast<EngineState>(state.load()); }
  // Host, while no engine runs: makes the block ready for the next engine of epoch `e` (state
  // starting, no error, no stop, no echoed epoch).
  void rearm(std::uint64_t e);
  void fail(std::string_view why);  // engine: records the reason, then state failed
  std::string failure() const;
  StatsSnapshot store_stats() const { return store.read(); }
  void publish_store(const StatsSnapshot& s) { store.publish(s); }
};

// The layout docs/protocol.md section 4 documents (x86-64 and aarch64 alike: LP64, natural
// alignment).
static_assert(sizeof(EnginePlan) == 1672);
static_assert(offsetof(EnginePlan, engine_cpus) == 24 && offsetof(EnginePlan, bind) == 1088);
static_assert(offsetof(EnginePlan, ports) == 1152 &&
              offsetof(EnginePlan, placement_digest) == 1664);
static_assert(sizeof(EngineThreadSlot) == 320 && offsetof(EngineThreadSlot, cpu_ns) == 256);
static_assert(offsetof(EngineBlock, plan) == 16 && offsetof(EngineBlock, state) == 1728);
static_assert(offsetof(EngineBlock, stop) == 1732);
static_assert(offsetof(EngineBlock, error) == 1736 && offsetof(EngineBlock, store) == 2048);
static_assert(offsetof(EngineBlock, partition_items) == 2120);
static_assert(sizeof(serving::MemcachedCounters) == 352);
static_assert(offsetof(EngineMemcached, host_ports) == 16 &&
              offsetof(EngineMemcached, bound_port) == 1088 &&
              offsetof(EngineMemcached, counters) == 1152 && sizeof(EngineMemcached) == 1536);
static_assert(offsetof(EngineBlock, threads) == 133248);
static_assert(offsetof(EngineBlock, memcached) == 215168 && offsetof(EngineBlock, epoch) == 216704);
static_assert(offsetof(EngineBlock, engine_epoch) == 216712 && sizeof(EngineBlock) == 216768);

}  // namespace buddy::kv::engine
