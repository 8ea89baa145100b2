// The shared TCP pipelining of buddykv-bench's memcached and Redis targets
// (pipelined_target.hpp).
#include "pipelined_target.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <stdexcept>
#include <utility>

namespace buddy::bench {
namespace {

constexpr std::size_t kMaxLine = 4096;             // longest answer line we accept
constexpr std::size_t kMinRead = 64 * 1024;        // room kept free for each recv()
constexpr std::size_t kEagerFlush = 256 * 1024;    // submit() starts writing past this much
constexpr auto kMaxWait = std::chrono::hours(24);  // longer waits are capped (no overflow)

}  // namespace

std::uint64_t tcp_now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(TcpClock::now().time_since_epoch())
          .count());
}

Socket::Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

Socket& Socket::operator=(Socket&& o) noexcept {
  if (this != &o) {
    reset();
    fd_ = std::exchange(o.fd_, -1);
  }
  return *this;
}

void Socket::reset() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

void check_window(std::size_t window, const std::string& prefix) {
  if (window < 1 || window > (std::size_t{1} << 20)) {
    throw std::runtime_error(prefix + "window must be 1..1048576 (got " + std::to_string(window) +
                             ")");
  }
}

std::string printable(std::string_view s) {
  std::string r;
  for (const char c : s.substr(0, 60)) {
    const auto u = static_cast<unsigned char>(c);
    r += (u >= 0x20 && u < 0x7f) ? c : '?';
  }
  if (s.size() > 60) r += "...";
  return r;
}

bool parse_size(std::string_view tok, std::size_t& v) {
  if (tok.empty()) return false;
  const auto [p, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
  return ec == std::errc() && p == tok.data() + tok.size();
}

void append_number(std::string& s, std::size_t v) {
  char buf[24];
  const auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  (void)ec;
  s.append(buf, p);
}

bool wait_fd(int fd, short events, TcpClock::time_point deadline) {
  for (;;) {
    const auto left = deadline - TcpClock::now();
    if (left <= TcpClock::duration::zero()) return false;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    pollfd p{fd, events, 0};
    const int r = ::ppoll(&p, 1, &ts, nullptr);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // let the caller's syscall report the error
  }
}

Socket connect_tcp(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                   const std::string& prefix) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port_str = std::to_string(port);
  if (const int rc = ::getaddrinfo(host.c_str(), port_str.c_str(), &hints, &res); rc != 0) {
    throw std::runtime_error(prefix + ::gai_strerror(rc));
  }
  std::string last = "no address";
  const auto deadline = TcpClock::now() + timeout;
  Socket s;
  for (addrinfo* a = res; a != nullptr; a = a->ai_next) {
    Socket c(::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol));
    if (c.get() < 0) {
      last = std::strerror(errno);
      continue;
    }
    int rc = ::connect(c.get(), a->ai_addr, a->ai_addrlen);
    if (rc < 0 && errno == EINPROGRESS) {
      if (!wait_fd(c.get(), POLLOUT, deadline)) {
        last = "connection timed out";
        continue;
      }
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.get(), SOL_SOCKET, SO_ERROR, &err, &len);
      rc = err == 0 ? 0 : -1;
      errno = err;
    }
    if (rc < 0) {
      last = std::strerror(errno);
      continue;
    }
    s = std::move(c);
    break;
  }
  ::freeaddrinfo(res);
  if (s.get() < 0) throw std::runtime_error(prefix + last);
  const int one = 1;
  if (::setsockopt(s.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
    throw std::runtime_error(prefix + "TCP_NODELAY: " + std::strerror(errno));
  }
  return s;
}

std::string handshake(int fd, std::string_view request, std::chrono::milliseconds timeout,
                      const std::string& prefix, std::string_view not_server) {
  const auto deadline = TcpClock::now() + timeout;
  std::string what(1, '"');  // the request's name for messages: "\"version\""
  what += printable(request.substr(0, request.find('\r')));
  what += '"';
  std::size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
      if (!wait_fd(fd, POLLOUT, deadline)) throw std::runtime_error(prefix + "send timed out");
    } else {
      throw std::runtime_error(prefix + "send: " + std::strerror(errno));
    }
  }
  std::string line;
  char buf[256];
  while (line.find("\r\n") == std::string::npos) {
    if (line.size() > kMaxLine) {
      throw std::runtime_error(prefix + std::string(not_server) + " (no answer line)");
    }
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      line.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      throw std::runtime_error(prefix + "closed the connection before answering " + what);
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (!wait_fd(fd, POLLIN, deadline)) {
        throw std::runtime_error(prefix + "no answer to " + what + " within " +
                                 std::to_string(timeout.count()) + " ms");
      }
    } else {
      throw std::runtime_error(prefix + "recv: " + std::strerror(errno));
    }
  }
  if (line.size() != line.find("\r\n") + 2) {
    throw std::runtime_error(prefix + "unexpected bytes after the " + what + " answer");
  }
  line.resize(line.size() - 2);
  return line;
}

PipelinedTarget::PipelinedTarget(std::string server, const std::string& host, std::uint16_t port,
                                 Socket s, std::size_t window, std::chrono::milliseconds timeout)
    : server_(std::move(server)),
      where_(server_ + " at " + host + ":" + std::to_string(port)),
      timeout_(timeout),
      sock_(std::move(s)),
      ring_(window),
      in_(256 * 1024) {
  out_.reserve(64 * 1024);
}

bool PipelinedTarget::submit(OpKind op, std::string_view key, std::string_view value,
                             std::uint64_t tag) {
  if (outstanding() >= ring_.size()) return false;
  const std::uint64_t t0 = tcp_now_ns();
  if (broken_) {
    local_.push_back({tag, t0, op, broken_outcome_, reason_});
    return true;
  }
  if (const std::string_view why = reject(key); !why.empty()) {
    local_.push_back({tag, t0, op, Outcome::error, why});
    return true;
  }
  if (count_ == 0) last_progress_ns_ = t0;  // the timeout runs while something is outstanding
  std::size_t idx = head_ + count_;
  if (idx >= ring_.size()) idx -= ring_.size();
  Pending& p = ring_[idx];
  ++count_;
  p.tag = tag;
  p.t0 = t0;
  p.op = op;
  encode(op, key, value, p, idx);
  if (out_.size() - out_sent_ >= kEagerFlush) send_some();
  return true;
}

std::size_t PipelinedTarget::poll(std::span<Done> out, std::chrono::microseconds wait) {
  // Views handed out by the previous poll() die here.
  if (in_begin_ == in_end_) {
    in_begin_ = in_end_ = 0;
  } else if (in_begin_ >= in_.size() / 2) {
    compact();
  }
  std::size_t n = drain_local(out);
  if (broken_) return n;
  finish_batch();
  send_some();
  const auto deadline = TcpClock::now() + std::min(wait, std::chrono::microseconds(kMaxWait));
  for (;;) {
    n += parse(out.subspan(n));
    if (broken_) return n + drain_local(out.subspan(n));
    if (n == out.size()) return n;
    const Read r = receive(n == 0);
    if (r == Read::got) continue;
    if (r == Read::failed) continue;  // broken_ now: the loop reports everything outstanding
    if (n > 0 || count_ == 0) return n;
    const auto now = TcpClock::now();
    if (timeout_.count() > 0) {
      const auto idle = std::chrono::nanoseconds(tcp_now_ns() - last_progress_ns_);
      if (idle >= timeout_) {
        fail("no answer from " + where_ + " for " + std::to_string(timeout_.count()) + " ms",
             Outcome::timeout);
        continue;
      }
    }
    if (now >= deadline) return n;
    auto until = deadline;
    if (timeout_.count() > 0) {
      until = std::min(
          until, TcpClock::time_point(std::chrono::nanoseconds(last_progress_ns_)) + timeout_);
    }
    const bool want_out = out_sent_ < out_.size();
    wait_fd(sock_.get(), static_cast<short>(POLLIN | (want_out ? POLLOUT : 0)), until);
    if (want_out) send_some();
  }
}

void PipelinedTarget::compact() {
  std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
  in_end_ -= in_begin_;
  in_begin_ = 0;
}

void PipelinedTarget::send_some() {
  while (out_sent_ < out_.size()) {
    const ssize_t n =
        ::send(sock_.get(), out_.data() + out_sent_, out_.size() - out_sent_, MSG_NOSIGNAL);
    if (n > 0) {
      out_sent_ += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else if (errno == ECONNRESET || errno == EPIPE) {
      fail(where_ + " closed the connection");
      return;
    } else {
      fail("cannot send to " + where_ + ": " + std::strerror(errno));
      return;
    }
  }
  if (out_sent_ == out_.size()) {
    out_.clear();
    out_sent_ = 0;
  } else if (out_sent_ >= kEagerFlush && out_sent_ >= out_.size() / 2) {
    out_.erase(0, out_sent_);
    out_sent_ = 0;
  }
}

// One recv(). may_grow: nothing from in_ has been handed out by this poll() yet, so the buffer
// may move (compaction, growth) to make room for the next answer.
PipelinedTarget::Read PipelinedTarget::receive(bool may_grow) {
  if (may_grow) {
    const bool short_of_room = in_.size() - in_end_ < kMinRead;
    if (in_begin_ > 0 && (short_of_room || in_begin_ + need_ > in_.size())) compact();
    const std::size_t want = std::max(in_end_ + kMinRead, in_begin_ + need_);
    if (in_.size() < want) in_.resize(std::max(want, in_.size() * 2));
  }
  if (in_end_ == in_.size()) return Read::would_block;  // full: hand out what we have first
  for (;;) {
    const ssize_t r = ::recv(sock_.get(), in_.data() + in_end_, in_.size() - in_end_, 0);
    if (r > 0) {
      in_end_ += static_cast<std::size_t>(r);
      rx_ns_ = last_progress_ns_ = tcp_now_ns();
      return Read::got;
    }
    if (r == 0) {
      fail(where_ + " closed the connection");
      return Read::failed;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) return Read::would_block;
    if (errno == ECONNRESET) {
      fail(where_ + " closed the connection (reset)");
      return Read::failed;
    }
    fail("cannot receive from " + where_ + ": " + std::strerror(errno));
    return Read::failed;
  }
}

// The connection is unusable: every outstanding and later request gets `reason`.
void PipelinedTarget::fail(std::string reason, Outcome outcome) {
  if (broken_) return;
  broken_ = true;
  broken_outcome_ = outcome;
  reason_ = std::move(reason);
  if (outcome == Outcome::timeout) ctr_.timeouts += count_;
  for (; count_ > 0; --count_) {
    const Pending& p = ring_[head_];
    local_.push_back({p.tag, p.t0, p.op, outcome, reason_});
    if (++head_ == ring_.size()) head_ = 0;
  }
  out_.clear();
  out_sent_ = 0;
  reset_protocol();
  sock_.reset();
}

void PipelinedTarget::protocol_error(std::string_view line, std::string_view why) {
  fail(where_ + " sent an unexpected answer (" + std::string(why) + "): \"" + printable(line) +
       "\"");
}

std::size_t PipelinedTarget::drain_local(std::span<Done> out) {
  std::size_t n = 0;
  if (local_.empty()) return 0;
  const std::uint64_t now = tcp_now_ns();
  while (n < out.size() && !local_.empty()) {
    const Local& l = local_.front();
    Done& d = out[n++];
    d = Done{};
    d.tag = l.tag;
    d.op = l.op;
    d.outcome = l.outcome;
    d.latency_ns = now - l.t0;
    d.detail = l.detail;
    local_.pop_front();
  }
  return n;
}

void PipelinedTarget::pop(Done& d, Outcome outcome) {
  const Pending& p = ring_[head_];
  d.tag = p.tag;
  d.op = p.op;
  d.outcome = outcome;
  d.retried = false;
  d.latency_ns = rx_ns_ > p.t0 ? rx_ns_ - p.t0 : 0;
  if (++head_ == ring_.size()) head_ = 0;
  --count_;
}

bool PipelinedTarget::next_line(std::string_view& line, std::size_t& used) {
  const char* b = in_.data() + in_begin_;
  const std::size_t avail = in_end_ - in_begin_;
  const auto* nl = static_cast<const char*>(std::memchr(b, '\n', avail));
  if (nl == nullptr) {
    if (avail > kMaxLine) protocol_error({b, avail}, "line too long");
    return false;
  }
  used = static_cast<std::size_t>(nl - b) + 1;
  if (used < 2 || nl[-1] != '\r') {
    protocol_error({b, used - 1}, "line not ended by \\r\\n");
    return false;
  }
  line = {b, used - 2};
  return true;
}

bool PipelinedTarget::take_data(std::string_view line, std::size_t len, std::size_t& used,
                                std::string_view& data) {
  const char* b = in_.data() + in_begin_;
  const std::size_t avail = in_end_ - in_begin_;
  if (avail < used + len + 2) {
    need_ = used + len + 2;
    return false;
  }
  if (b[used + len] != '\r' || b[used + len + 1] != '\n') {
    protocol_error(line, "data block not ended by \\r\\n");
    return false;
  }
  data = {b + used, len};
  used += len + 2;
  return true;
}

}  // namespace buddy::bench
