// The server configuration the in-process design tests share: one design, the engine on threads
// (the same EngineRuntime a buddykv-engine process runs), two host and two engine threads, one
// spare, two partitions per thread, 32 MB per store, small rings (back-pressure happens), a
// segment of its own and any free control port.
#pragma once

#include <string>

#include "buddy/kv/server/server.hpp"
#include "buddy_test_util.hpp"

namespace buddy::kv {

inline server::ServerConfig design_config(const std::string& design) {
  server::ServerConfig c;
  c.placement.design = serving::parse_design(design).value();
  c.port = 0;
  c.placement.host_threads = 2;
  c.placement.engine_threads = 2;
  c.placement.spare_threads = 1;
  c.placement.partitions_per_thread = 2;
  c.store.memory_bytes = std::size_t{32} << 20;
  c.engine = server::EngineMode::thread;
  c.ring_bytes = std::uint64_t{1} << 18;
  c.segment = buddy::testing::unique_name("kvd");
  return c;
}

}  // namespace buddy::kv
