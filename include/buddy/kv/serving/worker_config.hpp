// Knobs of the serving loops (hot-path configuration as a plain struct).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace buddy::kv::serving {

struct WorkerConfig {
  std::size_t burst = 32;                // datagrams per receive burst
  std::uint32_t spins = 64;              // empty non-blocking receives before blocking in poll()
  std::chrono::microseconds wait{1000};  // longest blocking wait, so stop is seen quickly
  std::uint32_t pipeline = 4;            // CE: bursts in flight to the PE at once
  std::uint32_t pe_batch = 256;          // PE: requests taken from a queue pair at once
};

}  // namespace buddy::kv::serving
