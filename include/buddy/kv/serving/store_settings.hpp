// What a buddykv server's stores are made of. Each side that holds partitions (docs/kv-designs.md:
// the host, the engine, or both in shrd) has a store of its own with this budget; the placement
// says which partitions it holds (side.hpp: side_store_config).
#pragma once

#include <cstddef>

#include "buddy/kv/store/status.hpp"

namespace buddy::kv::serving {

struct StoreSettings {
  kv::Mode mode = kv::Mode::store;
  std::size_t memory_bytes = std::size_t{256} << 20;  // per store, split over its partitions
  std::size_t expected_items = 0;                     // sizes the index (0: from memory)
};

}  // namespace buddy::kv::serving
