// What makes a ServerConfig servable, checked before anything is built (one line each).
#include <string>

#include "buddy/kv/engine/engine_block.hpp"
#include "buddy/kv/server/server.hpp"

namespace buddy::kv::server {

using namespace serving;

std::string validate(const ServerConfig& c) {
  if (std::string why = validate(c.placement); !why.empty()) return why;
  if (c.max_datagram < wire::kMinDatagram || c.max_datagram > wire::kMaxDatagram) {
    return "max datagram must be " + std::to_string(wire::kMinDatagram) + ".." +
           std::to_string(wire::kMaxDatagram) + " bytes";
  }
  if (c.memcached_port < -1 || c.memcached_port > 65535) return "memcached port must be 0..65535";
  if (c.memcached_max_connections == 0) return "memcached connections must be at least 1";
  if (c.worker.burst == 0 || c.worker.burst > 1024) return "burst must be 1..1024";
  if (c.worker.pipeline == 0 || c.worker.pipeline > 64) return "pipeline must be 1..64";
  if (c.worker.pe_batch == 0) return "PE batch must be at least 1";
  if (c.placement.engine_cpus.size() > engine::kMaxEngineCpus) return "too many engine cpus";
  if (c.bind.size() >= engine::EnginePlan{}.bind.size()) return "bind address too long";
  if (c.ring_bytes < 256 || (c.ring_bytes & (c.ring_bytes - 1)) != 0) {
    return "ring bytes must be a power of two, at least 256";
  }
  // The largest datagram's requests must fit one ring entry.
  if (c.ring_bytes / 2 < 2 * c.max_datagram) return "rings too small for the datagram size";
  const Placement p = place(c.placement);
  for (const Side s : {Side::host, Side::engine}) {
    if (const auto sc = side_store_config(p, s, c.store)) {
      if (std::string why = kv::validate(*sc); !why.empty()) {
        return std::string(to_string(s)) + " " + why;
      }
    }
  }
  // A client learns the map from one HELLO answer, a control datagram: up to 65507 bytes whatever
  // the serving ports' max datagram (docs/protocol.md, "Datagram sizes").
  const std::size_t ports = p.port_thread.size();
  if (const std::size_t hello = wire::hello_bytes(ports, p.partitions);
      hello > wire::kMaxDatagram) {
    return "HELLO for " + std::to_string(p.partitions) + " partitions and " +
           std::to_string(ports) + " ports is " + std::to_string(hello) +
           " bytes, more than one datagram can carry (" + std::to_string(wire::kMaxDatagram) +
           "): use fewer partitions or threads";
  }
  return {};
}

}  // namespace buddy::kv::server
