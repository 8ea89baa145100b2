// buddy::kv::Store: the processing engine's key-value store, a set of partitions. A request goes
// to partition_of(hash), and each partition is used by exactly one thread at a time (EREW); the
// store itself does no routing between threads. Statistics may be read from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "buddy/kv/store/partition.hpp"

namespace buddy::kv {

struct StoreConfig {
  Mode mode = Mode::store;
  std::size_t memory_bytes = 256u << 20;  // total budget, split evenly over the partitions
  std::uint32_t partitions = 1;           // 1..65536
  std::size_t expected_items = 0;         // total; sizes the index (0: from memory and kv size)
  std::size_t expected_kv_bytes = 32;     // average key + value bytes when expected_items = 0
  bool huge_pages = true;
  bool prefault = false;   // each partition faults its memory in at construction
  bool grow_index = true;  // store mode: the index grows with the items (false: chains only)
  // The partitions this store holds (ascending, each < partitions); empty: all of them. A store
  // holding a share of the key space (buddykv's shrd design: host and engine each hold theirs)
  // splits memory_bytes and expected_items over its own partitions only.
  std::vector<std::uint32_t> only;
};

// Empty when cfg makes a store, else the one-line reason the constructor would throw. Each held
// partition gets memory_bytes / (partitions held), which must be Partition::kMinMemory (256 KiB)
// .. kMaxMemory (16 GiB).
std::string validate(const StoreConfig& cfg);

class Store {
 public:
  explicit Store(const StoreConfig& cfg);  // throws kv::Error (validate's reason) on a bad config

  const StoreConfig& config() const noexcept { return cfg_; }
  std::uint32_t partition_count() const noexcept { return cfg_.partitions; }
  std::uint32_t partition_of(std::uint64_t hash) const noexcept {
    return hashbits::partition(hash, cfg_.partitions);
  }
  bool holds(std::uint32_t i) const noexcept { return i < parts_.size() && parts_[i] != nullptr; }
  Partition& partition(std::uint32_t i) noexcept { return *parts_[i]; }
  const Partition& partition(std::uint32_t i) const noexcept { return *parts_[i]; }
  Partition& partition_for(std::uint64_t hash) noexcept { return *parts_[partition_of(hash)]; }

  // Any thread: the sum of every partition's published statistics.
  StatsSnapshot stats() const noexcept;

 private:
  StoreConfig cfg_;
  std::vector<std::unique_ptr<Partition>> parts_;
};

}  // namespace buddy::kv
