// Store: validates the configuration and builds one partition per share of the budget.
#include "buddy/kv/store/store.hpp"

#include <algorithm>
#include <chrono>
#include <string>

#include "buddy/kv/store/detail/store_segment.hpp"

namespace buddy::kv {

using detail::Bucket;
using detail::SlabAllocator;
namespace item = detail::item;

namespace {
// "256 KiB", "2 GiB": the largest unit that divides the size exactly (else bytes).
std::string size_text(std::size_t bytes) {
  constexpr const char* kUnits[] = {"GiB", "MiB", "KiB"};
  for (int i = 0; i < 3; ++i) {
    const int shift = 30 - 10 * i;
    if (bytes != 0 && bytes % (std::size_t{1} << shift) == 0) {
      return std::to_string(bytes >> shift) + " " + kUnits[i];
    }
  }
  return std::to_string(bytes) + " bytes";
}
}  // namespace

std::string validate(const StoreConfig& cfg) {
  if (cfg.partitions == 0 || cfg.partitions > 65536) {
    return "partitions must be 1..65536 (got " + std::to_string(cfg.partitions) + ")";
  }
  if (cfg.expected_kv_bytes == 0 || cfg.expected_kv_bytes > kMaxKeyBytes + kMaxValueBytes) {
    return "expected_kv_bytes must be 1.." + std::to_string(kMaxKeyBytes + kMaxValueBytes);
  }
  for (std::size_t i = 0; i < cfg.only.size(); ++i) {
    if (cfg.only[i] >= cfg.partitions || (i > 0 && cfg.only[i] <= cfg.only[i - 1])) {
      return "the partitions a store holds must be ascending and below " +
             std::to_string(cfg.partitions);
    }
  }
  // Memory is split evenly over the held partitions; each has a minimum and a maximum.
  const std::size_t held = cfg.only.empty() ? cfg.partitions : cfg.only.size();
  const std::size_t each = cfg.memory_bytes / held;
  const std::string split = "store memory " + size_text(cfg.memory_bytes) + " over " +
                            std::to_string(held) + " partition(s) is " + size_text(each) +
                            " each, ";
  if (each < Partition::kMinMemory) {
    return split + "below the " + size_text(Partition::kMinMemory) +
           " minimum: give the store more memory or use fewer partitions";
  }
  if (each > Partition::kMaxMemory) {
    return split + "above the " + size_text(Partition::kMaxMemory) +
           " maximum: use more partitions or less memory";
  }
  return {};
}

Store::Store(const StoreConfig& cfg) : cfg_(cfg) {
  if (std::string why = validate(cfg); !why.empty()) throw Error(why);
  const std::size_t held = cfg.only.empty() ? cfg.partitions : cfg.only.size();
  PartitionConfig pc;
  pc.mode = cfg.mode;
  pc.memory_bytes = cfg.memory_bytes / held;
  pc.expected_items = (cfg.expected_items + held - 1) / held;
  pc.expected_kv_bytes = cfg.expected_kv_bytes;
  pc.huge_pages = cfg.huge_pages;
  pc.prefault = cfg.prefault;
  pc.grow_index = cfg.grow_index;
  parts_.resize(cfg.partitions);
  if (!cfg.segment.empty()) {
    const auto t0 = std::chrono::steady_clock::now();
    seg_ = std::make_unique<detail::StoreSegment>(
        cfg.segment,
        detail::StoreSegment::Layout{cfg.mode, cfg.partitions, cfg.only, pc.memory_bytes},
        cfg.segment_attach);
    std::size_t k = 0;
    for (std::uint32_t i = 0; i < cfg.partitions; ++i) {
      if (!cfg.only.empty() && !std::binary_search(cfg.only.begin(), cfg.only.end(), i)) continue;
      try {
        parts_[i] = std::make_unique<Partition>(pc, seg_->memory(k++));
      } catch (const Error& e) {
        throw Error("store segment '" + cfg.segment + "': partition " + std::to_string(i) + ": " +
                    e.what());
      }
    }
    if (!seg_->attached()) seg_->seal();
    attach_ms_ =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    return;
  }
  if (cfg.only.empty()) {
    for (auto& p : parts_) p = std::make_unique<Partition>(pc);
  } else {
    for (std::uint32_t i : cfg.only) parts_[i] = std::make_unique<Partition>(pc);
  }
}

Store::~Store() = default;

bool Store::reattached() const noexcept {
  return seg_ != nullptr && seg_->attached();
}

std::uint64_t Store::generation() const noexcept {
  return seg_ != nullptr ? seg_->generation() : 0;
}

void Store::remove_segment(const std::string& name) noexcept {
  detail::StoreSegment::unlink(name);
}

StatsSnapshot Store::stats() const noexcept {
  StatsSnapshot total;
  for (const auto& p : parts_) {
    if (p) total += p->stats();
  }
  return total;
}

}  // namespace buddy::kv
