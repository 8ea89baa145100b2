// UDP burst transport: one non-blocking socket, recvmmsg/sendmmsg bursts, poll() to wait.
#pragma once

#include "buddy/kv/wire/transport.hpp"

namespace buddy::kv::wire {

class UdpSocket final : public BurstTransport {
 public:
  // Binds to bind (port 0: any free port). Throws std::runtime_error with a one-line reason.
  // rcvbuf/sndbuf: requested kernel socket buffer bytes (0: the system default).
  explicit UdpSocket(Endpoint bind, std::size_t rcvbuf = 4u << 20, std::size_t sndbuf = 4u << 20);
  ~UdpSocket() override;
  UdpSocket(const UdpSocket&) = delete;
  UdpSocket& operator=(const UdpSocket&) = delete;

  std::size_t recv_burst(std::span<Datagram> out, std::chrono::microseconds wait) override;
  std::size_t send_burst(std::span<const Datagram> dgrams) override;
  Endpoint local() const override { return local_; }
  int fd() const noexcept { return fd_; }
  int wait_fd() const override { return fd_; }

 private:
  int fd_ = -1;
  Endpoint local_;
};

}  // namespace buddy::kv::wire
