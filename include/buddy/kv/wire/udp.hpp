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
  // UDP segmentation offload (UDP_SEGMENT, Linux 4.18+): send_burst hands each run of
  // consecutive datagrams to the same peer, all of one size but the last (which may be shorter),
  // to the kernel as one send that it cuts into those same datagrams, so the stack's
  // per-datagram send work (route, skb, device) is done once per run. The peer receives exactly
  // the datagrams it would without it. Off by default; a kernel or route that refuses it turns it
  // off for good and the datagrams go one by one.
  void set_segment_offload(bool on) noexcept { segment_ = on; }
  bool segment_offload() const noexcept { return segment_; }
  Endpoint local() const override { return local_; }
  int fd() const noexcept { return fd_; }
  int wait_fd() const override { return fd_; }

 private:
  std::size_t send_plain(std::span<const Datagram> dgrams);
  std::size_t send_segmented(std::span<const Datagram> dgrams);

  int fd_ = -1;
  bool segment_ = false;
  Endpoint local_;
};

}  // namespace buddy::kv::wire
