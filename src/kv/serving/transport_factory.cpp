#include "buddy/kv/serving/transport_factory.hpp"

#include "buddy/kv/wire/udp.hpp"

namespace buddy::kv::serving {

TransportFactory udp_factory(const std::string& bind) {
  return [bind](std::uint16_t port) -> std::unique_ptr<wire::BurstTransport> {
    return std::make_unique<wire::UdpSocket>(wire::make_endpoint(bind, port));
  };
}

}  // namespace buddy::kv::serving
