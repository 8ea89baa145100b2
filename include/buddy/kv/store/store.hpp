// buddy::kv::Store: the processing engine's key-value store, a set of partitions. A request goes
// to partition_of(hash), and each partition is used by exactly one thread at a time (EREW); the
// store itself does no routing between threads. Statistics may be read from any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "buddy/kv/store/partition.hpp"

namespace buddy::kv::detail {
class StoreSegment;
}

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
  // A named store (docs/store.md): the held partitions live in the shared-memory segment of this
  // name (/dev/shm/NAME), which outlives the process; store mode only. Empty: anonymous memory.
  // segment_attach false: the segment is made (one that exists is an error); true: it must exist
  // with this layout, and the store re-attaches to what it holds (a one-line kv::Error if it is
  // missing, not a store, of another layout version or another layout, or not consistent).
  std::string segment;
  bool segment_attach = false;
};

// Empty when cfg makes a store, else the one-line reason the constructor would throw. Each held
// partition gets memory_bytes / (partitions held), which must be Partition::kMinMemory (256 KiB)
// .. kMaxMemory (16 GiB).
std::string validate(const StoreConfig& cfg);

class Store {
 public:
  explicit Store(const StoreConfig& cfg);  // throws kv::Error (validate's reason) on a bad config
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // A named store: whether it re-attached to items already there, the segment's generation
  // (1 when made, one more at every re-attach) and how long the re-attach took.
  bool reattached() const noexcept;
  std::uint64_t generation() const noexcept;
  double attach_ms() const noexcept { return attach_ms_; }
  // Removes a named store's segment (the store of a stopped server); nothing when there is none.
  static void remove_segment(const std::string& name) noexcept;

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
  std::unique_ptr<detail::StoreSegment> seg_;  // a named store's (outlives the partitions)
  std::vector<std::unique_ptr<Partition>> parts_;
  double attach_ms_ = 0;
};

}  // namespace buddy::kv
