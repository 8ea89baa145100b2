#include "buddy/kv/engine/engine_block.hpp"

#include <time.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

namespace buddy::kv::engine {

using namespace serving;

PlacementConfig EnginePlan::config() const {
  PlacementConfig c;
  c.design = static_cast<Design>(design);
  c.host_threads = host_threads;
  c.engine_threads = engine_threads;
  c.spare_threads = spare_threads;
  c.partitions_per_thread = partitions_per_thread;
  const std::uint32_t n = std::min(engine_cpu_count, kMaxEngineCpus);
  c.engine_cpus.assign(engine_cpus.begin(), engine_cpus.begin() + n);
  return c;
}

WorkerConfig EnginePlan::worker() const {
  WorkerConfig w;
  w.burst = burst;
  w.spins = spins;
  w.wait = std::chrono::microseconds(wait_us);
  w.pipeline = pipeline;
  w.pe_batch = pe_batch;
  return w;
}

EngineBlock* EngineBlock::create(void* area, std::size_t bytes, const EnginePlan& plan) {
  if (bytes < sizeof(EngineBlock))
    throw std::runtime_error("segment has no room for the engine block");
  auto* b = new (area) EngineBlock();
  b->plan = plan;
  b->magic = kEngineBlockMagic;
  b->version = kEngineBlockVersion;
  b->bytes = sizeof(EngineBlock);
  return b;
}

EngineBlock* EngineBlock::attach(void* area, std::size_t bytes) {
  if (bytes < sizeof(EngineBlock)) {
    throw std::runtime_error("the segment has no engine block (is it a buddykv server's?)");
  }
  auto* b = static_cast<EngineBlock*>(area);
  if (b->magic != kEngineBlockMagic) throw std::runtime_error("the segment has no engine block");
  if (b->version != kEngineBlockVersion || b->bytes != sizeof(EngineBlock)) {
    throw std::runtime_error("engine block version " + std::to_string(b->version) + " (" +
                             std::to_string(b->bytes) + " bytes), this engine speaks version " +
                             std::to_string(kEngineBlockVersion) + " (" +
                             std::to_string(sizeof(EngineBlock)) + " bytes)");
  }
  const PlacementConfig c = b->plan.config();
  if (std::string why = validate(c); !why.empty()) throw std::runtime_error("bad plan: " + why);
  if (digest(place(c)) != b->plan.placement_digest) {
    throw std::runtime_error("the server's placement differs from this engine's (another build?)");
  }
  return b;
}

void EngineBlock::fail(std::string_view why) {
  const std::size_t n = std::min(why.size(), error.size() - 1);
  std::memcpy(error.data(), why.data(), n);
  error[n] = '\0';
  state.store(static_cast<std::uint32_t>(EngineState::failed));
}

std::string EngineBlock::failure() const {
  return std::string(error.data(), strnlen(error.data(), error.size()));
}

std::uint64_t EngineBlock::monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000000000u +
         static_cast<std::uint64_t>(ts.tv_nsec);
}

double EngineBlock::heartbeat_age_s() const {
  const std::uint64_t b = heartbeat_ns.load(std::memory_order_relaxed);
  const std::uint64_t now = monotonic_ns();
  return now > b ? static_cast<double>(now - b) / 1e9 : 0.0;
}

}  // namespace buddy::kv::engine
