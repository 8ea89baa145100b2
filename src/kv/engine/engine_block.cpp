#include "buddy/kv/engine/engine_block.hpp"

#include <algorithm>
#include <cstring>
#include <new>
#include <stdexcept>

namespace buddy::kv::engine {

using namespace serving;

EnginePlan EnginePlan::make(const PlacementConfig& placement, const StoreSettings& store,
                            const WorkerConfig& worker, std::size_t max_datagram,
                            std::string_view bind, std::span<const std::uint16_t> ports) {
  EnginePlan plan;
  if (bind.size() >= plan.bind.size()) throw std::invalid_argument("bind address too long");
  if (placement.engine_cpus.size() > kMaxEngineCpus) {
    throw std::invalid_argument("too many engine cpus");
  }
  if (ports.size() > kMaxEngineThreads) throw std::invalid_argument("too many engine threads");
  plan.design = static_cast<std::uint8_t>(placement.design);
  plan.host_threads = placement.host_threads;
  plan.engine_threads = placement.engine_threads;
  plan.spare_threads = placement.spare_threads;
  plan.partitions_per_thread = placement.partitions_per_thread;
  plan.engine_cpu_count = static_cast<std::uint32_t>(placement.engine_cpus.size());
  std::copy(placement.engine_cpus.begin(), placement.engine_cpus.end(), plan.engine_cpus.begin());
  plan.mode = static_cast<std::uint8_t>(store.mode);
  plan.memory_bytes = store.memory_bytes;
  plan.expected_items = store.expected_items;
  plan.max_datagram = static_cast<std::uint32_t>(max_datagram);
  plan.burst = static_cast<std::uint32_t>(worker.burst);
  plan.spins = worker.spins;
  plan.wait_us = static_cast<std::uint32_t>(worker.wait.count());
  plan.pipeline = worker.pipeline;
  plan.pe_batch = worker.pe_batch;
  std::copy(bind.begin(), bind.end(), plan.bind.begin());
  std::copy(ports.begin(), ports.end(), plan.ports.begin());
  plan.placement_digest = digest(place(plan.config()));
  return plan;
}

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

StoreSettings EnginePlan::store() const {
  StoreSettings s;
  s.mode = static_cast<kv::Mode>(mode);
  s.memory_bytes = memory_bytes;
  s.expected_items = expected_items;
  return s;
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

std::string EnginePlan::bind_address() const {
  return std::string(bind.data(), strnlen(bind.data(), bind.size()));
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

void EngineBlock::rearm(std::uint64_t e) {
  engine_epoch.store(0);
  error.fill('\0');
  stop.store(0);
  epoch.store(e);
  state.store(static_cast<std::uint32_t>(EngineState::starting));
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

}  // namespace buddy::kv::engine
