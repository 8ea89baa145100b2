// One server's entry in the registry: the key PREFIX/servers/ID, this record as its JSON value
// (docs/kv-cluster.md, "Registry layout"), attached to the server's lease.
//
//   {"id":0,"control":"127.0.0.1:7000","ports":[7001,7002],"partitions":4,
//    "owner":[0,0,1,1],"design":"sav","epoch":1764759600123,"pid":4242,
//    "engine":"up","engine_epoch":1}
// "engine" and "engine_epoch" only for the offloaded designs (an engine process or thread): the
// engine's state ("up", "restarting", "lost") and its queue pairs' epoch, re-put at each change.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace buddy::kv::registry {

struct ServerRecord {
  std::uint32_t id = 0;
  std::string control;               // HELLO/STATS address HOST:PORT
  std::vector<std::uint16_t> ports;  // serving ports (HELLO's map)
  std::uint32_t partitions = 0;
  std::vector<std::uint16_t> owner;  // partition -> index into ports
  std::string design;
  std::int64_t epoch = 0;  // this incarnation: unix milliseconds at registration
  std::int64_t pid = 0;
  std::string engine;              // "" (no engine), "up", "restarting", "lost"
  std::uint32_t engine_epoch = 0;  // the engine's queue-pair epoch: 1, +1 per restart attempt
  // Whether the engine's ports answer: false while it restarts or once it is lost.
  bool engine_serving() const noexcept { return engine.empty() || engine == "up"; }
};

std::string to_json(const ServerRecord& r);
// nullopt when the text is not such a record (a foreign key under the prefix is skipped).
std::optional<ServerRecord> parse_record(const std::string& json);

}  // namespace buddy::kv::registry
