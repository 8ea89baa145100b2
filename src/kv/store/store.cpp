// Store: validates the configuration and builds one partition per share of the budget.
#include "buddy/kv/store/store.hpp"

#include <string>

namespace buddy::kv {

Store::Store(const StoreConfig& cfg) : cfg_(cfg) {
  if (cfg.partitions == 0 || cfg.partitions > 65536) {
    throw Error("partitions must be 1..65536 (got " + std::to_string(cfg.partitions) + ")");
  }
  if (cfg.expected_kv_bytes == 0 || cfg.expected_kv_bytes > kMaxKeyBytes + kMaxValueBytes) {
    throw Error("expected_kv_bytes must be 1.." + std::to_string(kMaxKeyBytes + kMaxValueBytes));
  }
  PartitionConfig pc;
  pc.mode = cfg.mode;
  pc.memory_bytes = cfg.memory_bytes / cfg.partitions;
  pc.expected_items = (cfg.expected_items + cfg.partitions - 1) / cfg.partitions;
  pc.expected_kv_bytes = cfg.expected_kv_bytes;
  pc.huge_pages = cfg.huge_pages;
  parts_.reserve(cfg.partitions);
  for (std::uint32_t i = 0; i < cfg.partitions; ++i) {
    parts_.push_back(std::make_unique<Partition>(pc));
  }
}

StatsSnapshot Store::stats() const noexcept {
  StatsSnapshot total;
  for (const auto& p : parts_) total += p->stats();
  return total;
}

}  // namespace buddy::kv
