// Store: validates the configuration and builds one partition per share of the budget.
#include "buddy/kv/store/store.hpp"

#include <string>

namespace buddy::kv {

using detail::Bucket;
using detail::SlabAllocator;
namespace item = detail::item;

Store::Store(const StoreConfig& cfg) : cfg_(cfg) {
  if (cfg.partitions == 0 || cfg.partitions > 65536) {
    throw Error("partitions must be 1..65536 (got " + std::to_string(cfg.partitions) + ")");
  }
  if (cfg.expected_kv_bytes == 0 || cfg.expected_kv_bytes > kMaxKeyBytes + kMaxValueBytes) {
    throw Error("expected_kv_bytes must be 1.." + std::to_string(kMaxKeyBytes + kMaxValueBytes));
  }
  for (std::size_t i = 0; i < cfg.only.size(); ++i) {
    if (cfg.only[i] >= cfg.partitions || (i > 0 && cfg.only[i] <= cfg.only[i - 1])) {
      throw Error("the partitions a store holds must be ascending and below " +
                  std::to_string(cfg.partitions));
    }
  }
  const std::size_t held = cfg.only.empty() ? cfg.partitions : cfg.only.size();
  PartitionConfig pc;
  pc.mode = cfg.mode;
  pc.memory_bytes = cfg.memory_bytes / held;
  pc.expected_items = (cfg.expected_items + held - 1) / held;
  pc.expected_kv_bytes = cfg.expected_kv_bytes;
  pc.huge_pages = cfg.huge_pages;
  parts_.resize(cfg.partitions);
  if (cfg.only.empty()) {
    for (auto& p : parts_) p = std::make_unique<Partition>(pc);
  } else {
    for (std::uint32_t i : cfg.only) parts_[i] = std::make_unique<Partition>(pc);
  }
}

StatsSnapshot Store::stats() const noexcept {
  StatsSnapshot total;
  for (const auto& p : parts_) {
    if (p) total += p->stats();
  }
  return total;
}

}  // namespace buddy::kv
