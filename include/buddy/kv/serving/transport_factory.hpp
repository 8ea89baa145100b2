// Where serving threads get their transports: UDP sockets in production, the in-memory fake
// network in tests. port 0: any free port.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::serving {

using TransportFactory = std::function<std::unique_ptr<wire::BurstTransport>(std::uint16_t port)>;
TransportFactory udp_factory(const std::string& bind);

}  // namespace buddy::kv::serving
