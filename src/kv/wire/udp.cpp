#include "buddy/kv/wire/udp.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <stdexcept>

namespace buddy::kv::wire {

namespace {

constexpr std::size_t kBurst = 64;  // datagrams per recvmmsg/sendmmsg call

sockaddr_in to_sockaddr(const Endpoint& e) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(e.ip);
  a.sin_port = htons(e.port);
  return a;
}

Endpoint from_sockaddr(const sockaddr_in& a) {
  return Endpoint{ntohl(a.sin_addr.s_addr), ntohs(a.sin_port)};
}

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + ": " + std::strerror(errno));
}

}  // namespace

std::string to_string(const Endpoint& e) {
  in_addr a{};
  a.s_addr = htonl(e.ip);
  char buf[INET_ADDRSTRLEN] = {};
  inet_ntop(AF_INET, &a, buf, sizeof(buf));
  return std::string(buf) + ":" + std::to_string(e.port);
}

Endpoint make_endpoint(const std::string& host, std::uint16_t port) {
  in_addr a{};
  if (inet_pton(AF_INET, host.c_str(), &a) == 1) return Endpoint{ntohl(a.s_addr), port};
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), nullptr, &hints, &res) != 0 || res == nullptr) {
    throw std::runtime_error("cannot resolve host '" + host + "'");
  }
  const auto* sa = reinterpret_cast<const sockaddr_in*>(res->ai_addr);
  Endpoint e{ntohl(sa->sin_addr.s_addr), port};
  freeaddrinfo(res);
  return e;
}

Endpoint parse_endpoint(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == s.size()) {
    throw std::runtime_error("'" + s + "' is not HOST:PORT");
  }
  const std::string port = s.substr(colon + 1);
  if (port.size() > 5 ||
      !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    throw std::runtime_error("'" + port + "' is not a port number");
  }
  const unsigned long p = std::stoul(port);
  if (p == 0 || p > 65535) throw std::runtime_error("port " + port + " is not in 1..65535");
  return make_endpoint(s.substr(0, colon), static_cast<std::uint16_t>(p));
}

UdpSocket::UdpSocket(Endpoint bind_to, std::size_t rcvbuf, std::size_t sndbuf) {
  fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd_ < 0) fail("socket");
  // No SO_REUSEADDR: on UDP it would let a second socket bind a port already in use and take
  // its traffic silently; a port in use must be an error.
  // Larger buffers absorb bursts; the kernel caps them at net.core.{r,w}mem_max silently.
  if (rcvbuf != 0) {
    const int v = static_cast<int>(rcvbuf);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
  }
  if (sndbuf != 0) {
    const int v = static_cast<int>(sndbuf);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v));
  }
  const sockaddr_in a = to_sockaddr(bind_to);
  if (::bind(fd_, reinterpret_cast<const sockaddr*>(&a), sizeof(a)) != 0) {
    const int e = errno;
    ::close(fd_);
    errno = e;
    fail("cannot bind UDP " + to_string(bind_to));
  }
  sockaddr_in got{};
  socklen_t len = sizeof(got);
  ::getsockname(fd_, reinterpret_cast<sockaddr*>(&got), &len);
  local_ = from_sockaddr(got);
}

UdpSocket::~UdpSocket() {
  if (fd_ >= 0) ::close(fd_);
}

std::size_t UdpSocket::recv_burst(std::span<Datagram> out, std::chrono::microseconds wait) {
  std::size_t got = 0;
  std::array<mmsghdr, kBurst> msgs;
  std::array<iovec, kBurst> iov;
  std::array<sockaddr_in, kBurst> addr;
  bool waited = false;
  while (got < out.size()) {
    const std::size_t n = std::min(kBurst, out.size() - got);
    for (std::size_t i = 0; i < n; ++i) {
      Datagram& d = out[got + i];
      iov[i] = iovec{d.data, d.capacity};
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &addr[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    const int r = ::recvmmsg(fd_, msgs.data(), static_cast<unsigned>(n), MSG_DONTWAIT, nullptr);
    if (r <= 0) {
      if (got > 0 || waited || wait.count() <= 0) break;
      if (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) break;
      pollfd p{fd_, POLLIN, 0};
      const auto ms = std::max<long long>(1, (wait.count() + 999) / 1000);
      ::poll(&p, 1, static_cast<int>(ms));
      waited = true;
      continue;
    }
    for (int i = 0; i < r; ++i) {
      Datagram& d = out[got + static_cast<std::size_t>(i)];
      const bool truncated = (msgs[i].msg_hdr.msg_flags & MSG_TRUNC) != 0;
      d.size = truncated ? d.capacity + 1 : msgs[i].msg_len;
      d.peer = from_sockaddr(addr[i]);
    }
    got += static_cast<std::size_t>(r);
    if (static_cast<std::size_t>(r) < n) break;
  }
  return got;
}

std::size_t UdpSocket::send_burst(std::span<const Datagram> dgrams) {
  return segment_ ? send_segmented(dgrams) : send_plain(dgrams);
}

std::size_t UdpSocket::send_plain(std::span<const Datagram> dgrams) {
  std::size_t sent = 0;
  std::size_t lost = 0;
  std::array<mmsghdr, kBurst> msgs;
  std::array<iovec, kBurst> iov;
  std::array<sockaddr_in, kBurst> addr;
  int stalls = 0;
  while (sent < dgrams.size()) {
    const std::size_t n = std::min(kBurst, dgrams.size() - sent);
    for (std::size_t i = 0; i < n; ++i) {
      const Datagram& d = dgrams[sent + i];
      iov[i] = iovec{d.data, d.size};
      addr[i] = to_sockaddr(d.peer);
      msgs[i] = mmsghdr{};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
      msgs[i].msg_hdr.msg_name = &addr[i];
      msgs[i].msg_hdr.msg_namelen = sizeof(sockaddr_in);
    }
    const int r = ::sendmmsg(fd_, msgs.data(), static_cast<unsigned>(n), 0);
    if (r > 0) {
      sent += static_cast<std::size_t>(r);
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) && stalls < 100) {
      // Socket buffer full: wait briefly for room instead of dropping at once.
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, 1);
      ++stalls;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    // Any other error (e.g. ECONNREFUSED from an earlier ICMP): this datagram is lost.
    ++sent;
    ++lost;
  }
  return sent - lost;
}

// Runs of datagrams to one peer, all of one size S but the last (<= S), at most kMaxSegments
// and kMaxRun bytes each, each run one message of sendmmsg with a UDP_SEGMENT of S (a run of one
// goes without). The kernel cuts a run into the same datagrams send_plain would have sent.
std::size_t UdpSocket::send_segmented(std::span<const Datagram> dgrams) {
  constexpr std::size_t kMaxSegments = 64;  // the kernel's UDP_MAX_SEGMENTS
  constexpr std::size_t kMaxRun = 60000;    // payload bytes per run, below the 64 KiB IP limit
  constexpr std::size_t kIov = 256;         // datagrams per sendmmsg call
  std::array<mmsghdr, kBurst> msgs;
  std::array<iovec, kIov> iov;
  std::array<sockaddr_in, kBurst> addr;
  std::array<std::uint16_t, kBurst> runs;  // datagrams in each message
  alignas(cmsghdr) std::array<std::array<char, CMSG_SPACE(sizeof(std::uint16_t))>, kBurst> ctl;
  std::size_t done = 0, lost = 0;
  int stalls = 0;
  while (done < dgrams.size()) {
    std::size_t m = 0, k = 0;  // messages, iovecs used
    for (std::size_t i = done; i < dgrams.size() && m < kBurst && k < kIov; ++m) {
      const Datagram& first = dgrams[i];
      std::size_t j = i, bytes = 0;
      while (j < dgrams.size() && j - i < kMaxSegments && k + (j - i) < kIov &&
             dgrams[j].peer == first.peer && dgrams[j].size <= first.size &&
             bytes + dgrams[j].size <= kMaxRun) {
        iov[k + (j - i)] = iovec{dgrams[j].data, dgrams[j].size};
        bytes += dgrams[j].size;
        if (dgrams[j++].size < first.size) break;  // a shorter one ends the run
      }
      if (j == i) {  // one datagram larger than kMaxRun: alone, without segmentation
        iov[k] = iovec{first.data, first.size};
        j = i + 1;
      }
      const std::size_t n = j - i;
      addr[m] = to_sockaddr(first.peer);
      msgs[m] = mmsghdr{};
      msgs[m].msg_hdr.msg_iov = &iov[k];
      msgs[m].msg_hdr.msg_iovlen = n;
      msgs[m].msg_hdr.msg_name = &addr[m];
      msgs[m].msg_hdr.msg_namelen = sizeof(sockaddr_in);
      if (n > 1) {
        msgs[m].msg_hdr.msg_control = ctl[m].data();
        msgs[m].msg_hdr.msg_controllen = ctl[m].size();
        cmsghdr* c = CMSG_FIRSTHDR(&msgs[m].msg_hdr);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(std::uint16_t));
        const auto seg = static_cast<std::uint16_t>(first.size);
        std::memcpy(CMSG_DATA(c), &seg, sizeof(seg));
      }
      runs[m] = static_cast<std::uint16_t>(n);
      k += n;
      i = j;
    }
    const int r = ::sendmmsg(fd_, msgs.data(), static_cast<unsigned>(m), 0);
    if (r > 0) {
      for (int q = 0; q < r; ++q) done += runs[static_cast<std::size_t>(q)];
      continue;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS) && stalls < 100) {
      pollfd p{fd_, POLLOUT, 0};  // socket buffer full: wait briefly for room
      ::poll(&p, 1, 1);
      ++stalls;
      continue;
    }
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && runs[0] > 1 &&
        (errno == EINVAL || errno == EIO || errno == EMSGSIZE || errno == ENOPROTOOPT ||
         errno == EOPNOTSUPP)) {
      // No segmentation offload here (old kernel, or a route whose device or MTU refuses it):
      // off for good, and the rest goes one by one.
      segment_ = false;
      return done - lost + send_plain(dgrams.subspan(done));
    }
    // Any other error (e.g. ECONNREFUSED from an earlier ICMP): this run is lost.
    done += runs[0];
    lost += runs[0];
  }
  return done - lost;
}

}  // namespace buddy::kv::wire
