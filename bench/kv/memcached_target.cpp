// buddykv-bench's memcached target.
//
// Protocol. Default: memcached's meta protocol, one command per request, no quiet mode,
// pipelined:
//   GET  "mg <key> v\r\n"                  -> "VA <len>\r\n<data>\r\n" | "EN\r\n"
//   SET  "ms <key> <len>\r\n<data>\r\n"    -> "HD\r\n" | "NS\r\n" | "SERVER_ERROR ...\r\n"
// Everything submitted between two poll() calls is written with one send(); answers are parsed
// as a stream and matched to requests in order (memcached answers the commands of one
// connection in the order it read them). Why not the alternatives:
// - The classic text protocol (MemcachedProtocol::ascii here) batches GETs as
//   "get k1 k2 ... kN\r\n", answered "VALUE <key> <flags> <len>\r\n<data>\r\n" per hit and one
//   "END\r\n"; a miss is a key the answers skip. Every SET ends the current "get" line (order
//   must be kept: a GET after a SET of its key must see the new value), so YCSB-B's 5% SETs cut
//   the lines to ~20 keys, and every hit echoes its key and flags. Measured here (2 cores,
//   memcached -t 1 -R 1000 on cpu 0, client on cpu 1, 100k keys, Zipf 0.99, window 512,
//   alternating runs, memcached at 100% cpu in all): YCSB-B meta 1.0-1.3 Mops vs ascii
//   0.59-0.72 (multiget 100) and 0.84-1.03 (multiget 500); YCSB-A meta 0.71-1.13 vs ascii 0.43;
//   YCSB-C (no SETs, long lines) meta 1.23-1.27 vs ascii 1.27. It is kept for memcached < 1.6.
// - Quiet mode ("mg ... q" / "ms ... q" closed by "mn") drops only EN and HD lines. Errors are
//   still sent but carry no opaque, so after a quiet batch an error could belong to any request
//   that got no answer: the target could not say which GET or SET failed. With every request
//   answered, order alone matches answers exactly, and on YCSB with preloaded keys almost every
//   GET is a hit, whose VA line quiet mode sends too: it would save only the SETs' "HD\r\n".
// - Opaques ("O<n>") cost bytes each way and parsing on both sides; in-order matching plus the
//   check that every answer has the kind its request expects (VA/EN for a GET, HD/NS/... for a
//   SET, any other or malformed line fails the connection) catches a desynchronised stream.
// - memcached's -R (requests per connection per event, default 20) is a server setting:
//   bench/kv_vs_memcached.sh raises it to 1000 (YCSB-B meta 1.0-1.4 Mops with 20, 1.1-2.5 with
//   1000 on this machine).
//
// Reads and writes use a non-blocking socket and ppoll(), so a large burst never deadlocks
// (memcached stops reading while its answers are not read) and partial reads and writes are
// resumed. GET values are returned as views into the receive buffer, which is compacted or grown
// only at the start of a poll() or before the first answer of that poll() is handed out.
#include "memcached_target.hpp"

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
#include <deque>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace buddy::bench {
namespace {

using Clock = std::chrono::steady_clock;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
          .count());
}

constexpr std::size_t kMaxKey = 250;               // memcached's KEY_MAX_LENGTH
constexpr std::size_t kMaxLine = 4096;             // longest answer line we accept
constexpr std::size_t kMinRead = 64 * 1024;        // room kept free for each recv()
constexpr std::size_t kEagerFlush = 256 * 1024;    // submit() starts writing past this much
constexpr auto kMaxWait = std::chrono::hours(24);  // longer waits are capped (no overflow)
constexpr std::string_view kBadKey =
    "key not valid for memcached (1..250 bytes, no space or control character)";

bool valid_key(std::string_view k) {
  if (k.empty() || k.size() > kMaxKey) return false;
  for (const char c : k) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// First token of an answer line is the code; "HD", "EN", "HD O12", ...
bool code_is(std::string_view line, std::string_view code) {
  return starts_with(line, code) && (line.size() == code.size() || line[code.size()] == ' ');
}

bool is_error_line(std::string_view line) {
  return line == "ERROR" || starts_with(line, "SERVER_ERROR") || starts_with(line, "CLIENT_ERROR");
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

// Waits until fd is ready for `events` or the deadline passes; false on timeout.
bool wait_fd(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    const auto left = deadline - Clock::now();
    if (left <= Clock::duration::zero()) return false;
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(left).count();
    timespec ts{static_cast<time_t>(ns / 1'000'000'000), static_cast<long>(ns % 1'000'000'000)};
    pollfd p{fd, events, 0};
    const int r = ::ppoll(&p, 1, &ts, nullptr);
    if (r > 0) return true;
    if (r < 0 && errno != EINTR) return true;  // let the caller's syscall report the error
  }
}

class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  Socket& operator=(Socket&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~Socket() { reset(); }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// Connects with a timeout; returns a non-blocking TCP_NODELAY socket or throws with `reason`.
Socket connect_tcp(const MemcachedOptions& o, const std::string& prefix) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(o.port);
  if (const int rc = ::getaddrinfo(o.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    throw std::runtime_error(prefix + ::gai_strerror(rc));
  }
  std::string last = "no address";
  const auto deadline = Clock::now() + o.connect_timeout;
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

// Sends "version" and returns memcached's answer line (without "\r\n"); throws on timeout.
std::string version_handshake(int fd, const MemcachedOptions& o, const std::string& prefix) {
  const auto deadline = Clock::now() + o.connect_timeout;
  const std::string_view req = "version\r\n";
  std::size_t sent = 0;
  while (sent < req.size()) {
    const ssize_t n = ::send(fd, req.data() + sent, req.size() - sent, MSG_NOSIGNAL);
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
    if (line.size() > kMaxLine)
      throw std::runtime_error(prefix + "not a memcached (no answer line)");
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n > 0) {
      line.append(buf, static_cast<std::size_t>(n));
    } else if (n == 0) {
      throw std::runtime_error(prefix + "closed the connection before answering \"version\"");
    } else if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
      if (!wait_fd(fd, POLLIN, deadline)) {
        throw std::runtime_error(prefix + "no answer to \"version\" within " +
                                 std::to_string(o.connect_timeout.count()) + " ms");
      }
    } else {
      throw std::runtime_error(prefix + "recv: " + std::strerror(errno));
    }
  }
  if (line.size() != line.find("\r\n") + 2) {
    throw std::runtime_error(prefix + "unexpected bytes after the \"version\" answer");
  }
  line.resize(line.size() - 2);
  return line;
}

class MemcachedTarget final : public Target {
 public:
  MemcachedTarget(const MemcachedOptions& o, Socket s)
      : o_(o),
        where_(o.host + ":" + std::to_string(o.port)),
        sock_(std::move(s)),
        ring_(o.window),
        in_(256 * 1024) {
    out_.reserve(64 * 1024);
  }

  bool submit(OpKind op, std::string_view key, std::string_view value, std::uint64_t tag) override {
    if (outstanding() >= o_.window) return false;
    const std::uint64_t t0 = now_ns();
    if (broken_) {
      local_.push_back({tag, t0, op, broken_outcome_, reason_});
      return true;
    }
    if (!valid_key(key)) {
      local_.push_back({tag, t0, op, Outcome::error, kBadKey});
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
    if (o_.protocol == MemcachedProtocol::meta) {
      if (op == OpKind::get) {
        out_ += "mg ";
        out_ += key;
        out_ += " v\r\n";
      } else {
        out_ += "ms ";
        out_ += key;
        out_ += ' ';
        append_number(out_, value.size());
        out_ += "\r\n";
        out_ += value;
        out_ += "\r\n";
      }
    } else if (op == OpKind::get) {
      out_ += open_get_ == 0 ? "get " : " ";
      out_ += key;
      p.key.assign(key);
      p.last_in_get = false;
      last_get_ = idx;
      if (++open_get_ >= o_.multiget) close_get();
    } else {
      close_get();
      out_ += "set ";
      out_ += key;
      out_ += " 0 0 ";
      append_number(out_, value.size());
      out_ += "\r\n";
      out_ += value;
      out_ += "\r\n";
    }
    if (out_.size() - out_sent_ >= kEagerFlush) send_some();
    return true;
  }

  std::size_t poll(std::span<Done> out, std::chrono::microseconds wait) override {
    // Views handed out by the previous poll() die here.
    if (in_begin_ == in_end_) {
      in_begin_ = in_end_ = 0;
    } else if (in_begin_ >= in_.size() / 2) {
      compact();
    }
    std::size_t n = drain_local(out);
    if (broken_) return n;
    close_get();
    send_some();
    const auto deadline = Clock::now() + std::min(wait, std::chrono::microseconds(kMaxWait));
    for (;;) {
      n += parse(out.subspan(n));
      if (broken_) return n + drain_local(out.subspan(n));
      if (n == out.size()) return n;
      const Read r = receive(n == 0);
      if (r == Read::got) continue;
      if (r == Read::failed) continue;  // broken_ now: the loop reports everything outstanding
      if (n > 0 || count_ == 0) return n;
      const auto now = Clock::now();
      if (o_.timeout.count() > 0) {
        const auto idle = std::chrono::nanoseconds(now_ns() - last_progress_ns_);
        if (idle >= o_.timeout) {
          fail("no answer from memcached at " + where_ + " for " +
                   std::to_string(o_.timeout.count()) + " ms",
               Outcome::timeout);
          continue;
        }
      }
      if (now >= deadline) return n;
      auto until = deadline;
      if (o_.timeout.count() > 0) {
        until = std::min(
            until, Clock::time_point(std::chrono::nanoseconds(last_progress_ns_)) + o_.timeout);
      }
      const bool want_out = out_sent_ < out_.size();
      wait_fd(sock_.get(), static_cast<short>(POLLIN | (want_out ? POLLOUT : 0)), until);
      if (want_out) send_some();
    }
  }

  std::size_t outstanding() const override { return count_ + local_.size(); }
  TargetCounters counters() const override { return ctr_; }

 private:
  struct Pending {
    std::uint64_t tag = 0;
    std::uint64_t t0 = 0;
    OpKind op = OpKind::get;
    bool last_in_get = false;  // ascii: the last key of its "get" line ("END" follows)
    std::string key;           // ascii: to match "VALUE <key>" lines
  };
  struct Local {  // answered without memcached: bad key, or the connection is gone
    std::uint64_t tag;
    std::uint64_t t0;
    OpKind op;
    Outcome outcome;
    std::string_view detail;
  };
  enum class Read { got, would_block, failed };

  void close_get() {
    if (open_get_ == 0) return;
    out_ += "\r\n";
    ring_[last_get_].last_in_get = true;
    open_get_ = 0;
  }

  void compact() {
    std::memmove(in_.data(), in_.data() + in_begin_, in_end_ - in_begin_);
    in_end_ -= in_begin_;
    in_begin_ = 0;
  }

  void send_some() {
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
        fail("memcached at " + where_ + " closed the connection");
        return;
      } else {
        fail("cannot send to memcached at " + where_ + ": " + std::strerror(errno));
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

  // One recv(). may_grow: nothing from in_ has been handed out by this poll() yet, so the
  // buffer may move (compaction, growth) to make room for the next answer.
  Read receive(bool may_grow) {
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
        rx_ns_ = last_progress_ns_ = now_ns();
        return Read::got;
      }
      if (r == 0) {
        fail("memcached at " + where_ + " closed the connection");
        return Read::failed;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Read::would_block;
      if (errno == ECONNRESET) {
        fail("memcached at " + where_ + " closed the connection (reset)");
        return Read::failed;
      }
      fail("cannot receive from memcached at " + where_ + ": " + std::strerror(errno));
      return Read::failed;
    }
  }

  // The connection is unusable: every outstanding and later request gets `reason`.
  void fail(std::string reason, Outcome outcome = Outcome::error) {
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
    open_get_ = 0;
    await_end_ = false;
    sock_.reset();
  }

  void protocol_error(std::string_view line, std::string_view why) {
    fail("memcached at " + where_ + " sent an unexpected answer (" + std::string(why) + "): \"" +
         printable(line) + "\"");
  }

  std::size_t drain_local(std::span<Done> out) {
    std::size_t n = 0;
    if (local_.empty()) return 0;
    const std::uint64_t now = now_ns();
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

  void pop(Done& d, Outcome outcome) {
    const Pending& p = ring_[head_];
    d.tag = p.tag;
    d.op = p.op;
    d.outcome = outcome;
    d.retried = false;
    d.latency_ns = rx_ns_ > p.t0 ? rx_ns_ - p.t0 : 0;
    if (++head_ == ring_.size()) head_ = 0;
    --count_;
  }

  // Parses complete answers from in_, at most out.size(); stops at an incomplete one.
  std::size_t parse(std::span<Done> out) {
    std::size_t n = 0;
    while (n < out.size() && (count_ > 0 || await_end_)) {
      const char* b = in_.data() + in_begin_;
      const std::size_t avail = in_end_ - in_begin_;
      const auto* nl = static_cast<const char*>(std::memchr(b, '\n', avail));
      if (nl == nullptr) {
        if (avail > kMaxLine) protocol_error({b, avail}, "line too long");
        break;
      }
      std::size_t used = static_cast<std::size_t>(nl - b) + 1;
      if (used < 2 || nl[-1] != '\r') {
        protocol_error({b, used - 1}, "line not ended by \\r\\n");
        break;
      }
      const std::string_view line(b, used - 2);
      std::string_view data;
      bool has_data = false;
      // A data block "<len bytes>\r\n" after the line: complete?
      auto take_data = [&](std::size_t len) {
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
        has_data = true;
        return true;
      };

      Done& d = out[n];
      d = Done{};
      bool consume = true;  // the line (and data) belongs to this answer
      if (await_end_) {     // ascii: the last key of a "get" line was a hit, "END" follows
        if (line != "END") {
          protocol_error(line, "expected END");
          break;
        }
        await_end_ = false;
        in_begin_ += used;
        need_ = 0;
        continue;
      }
      const Pending& p = ring_[head_];
      if (o_.protocol == MemcachedProtocol::meta) {
        if (p.op == OpKind::get && starts_with(line, "VA ")) {
          std::string_view tok = line.substr(3);
          tok = tok.substr(0, tok.find(' '));
          std::size_t len = 0;
          if (!parse_size(tok, len)) {
            protocol_error(line, "bad length");
            break;
          }
          if (!take_data(len)) break;
          pop(d, Outcome::ok);
        } else if (p.op == OpKind::get && code_is(line, "EN")) {
          pop(d, Outcome::not_found);
        } else if (p.op == OpKind::set && code_is(line, "HD")) {
          pop(d, Outcome::ok);
        } else if (p.op == OpKind::set && code_is(line, "NS")) {
          pop(d, Outcome::error);
          d.detail = "NOT_STORED";
        } else if (p.op == OpKind::set && (code_is(line, "EX") || code_is(line, "NF"))) {
          pop(d, Outcome::error);
          d.detail = line;
        } else if (is_error_line(line)) {
          pop(d, Outcome::error);
          d.detail = line;
        } else {
          protocol_error(line, p.op == OpKind::get ? "for a GET" : "for a SET");
          break;
        }
      } else if (p.op == OpKind::get) {
        // Answers to one "get k1 ... kN" line: VALUE for each hit, in order, then END.
        if (starts_with(line, "VALUE ")) {
          std::string_view rest = line.substr(6);
          const std::string_view key = rest.substr(0, rest.find(' '));
          const std::size_t sp = rest.rfind(' ');
          std::size_t len = 0;
          if (key.size() == rest.size() || !parse_size(rest.substr(sp + 1), len)) {
            protocol_error(line, "bad VALUE line");
            break;
          }
          if (key != p.key) {  // p missed: VALUE belongs to a later key of the same line
            if (p.last_in_get) {
              protocol_error(line, "VALUE for a key not asked");
              break;
            }
            pop(d, Outcome::not_found);
            consume = false;
          } else {
            if (!take_data(len)) break;
            if (p.last_in_get) await_end_ = true;
            pop(d, Outcome::ok);
          }
        } else if (line == "END" || is_error_line(line)) {
          // END: every key of the line not answered yet missed; an error fails them all.
          const bool last = p.last_in_get;
          pop(d, line == "END" ? Outcome::not_found : Outcome::error);
          if (line != "END") d.detail = line;
          consume = last;
        } else {
          protocol_error(line, "for a GET");
          break;
        }
      } else {
        if (line == "STORED") {
          pop(d, Outcome::ok);
        } else if (line == "NOT_STORED" || line == "EXISTS" || line == "NOT_FOUND" ||
                   is_error_line(line)) {
          pop(d, Outcome::error);
          d.detail = line;
        } else {
          protocol_error(line, "for a SET");
          break;
        }
      }
      if (has_data) d.value = data;
      if (consume) {
        in_begin_ += used;
        need_ = 0;
      }
      ++n;
    }
    return n;
  }

  MemcachedOptions o_;
  std::string where_;
  Socket sock_;
  std::vector<Pending> ring_;  // outstanding requests in the order they were written
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::deque<Local> local_;
  std::string out_;  // requests not yet written; out_[0, out_sent_) already are
  std::size_t out_sent_ = 0;
  std::vector<char> in_;  // answers received; [in_begin_, in_end_) not parsed yet
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::size_t need_ = 0;  // bytes from in_begin_ the next answer needs (a large value)
  std::uint64_t rx_ns_ = 0;
  std::uint64_t last_progress_ns_ = 0;
  std::size_t open_get_ = 0;  // ascii: keys on the "get" line being written
  std::size_t last_get_ = 0;  // ascii: ring index of its last key
  bool await_end_ = false;
  bool broken_ = false;
  Outcome broken_outcome_ = Outcome::error;
  std::string reason_;
  TargetCounters ctr_;
};

}  // namespace

std::unique_ptr<Target> make_memcached_target(const MemcachedOptions& o) {
  const std::string prefix =
      "cannot connect to memcached at " + o.host + ":" + std::to_string(o.port) + ": ";
  if (o.window < 1 || o.window > (std::size_t{1} << 20)) {
    throw std::runtime_error(prefix + "window must be 1..1048576 (got " + std::to_string(o.window) +
                             ")");
  }
  if (o.multiget < 1 || o.multiget > 1000) {
    throw std::runtime_error(prefix + "multiget must be 1..1000 (got " +
                             std::to_string(o.multiget) + ")");
  }
  Socket s = connect_tcp(o, prefix);
  const std::string v = version_handshake(s.get(), o, prefix);
  if (!starts_with(v, "VERSION ")) {
    throw std::runtime_error(prefix + "not a memcached (answered \"" + printable(v) +
                             "\" to \"version\")");
  }
  if (o.protocol == MemcachedProtocol::meta) {
    unsigned major = 0, minor = 0;
    const std::string_view num = std::string_view(v).substr(8);
    const auto r1 = std::from_chars(num.data(), num.data() + num.size(), major);
    if (r1.ec == std::errc() && r1.ptr < num.data() + num.size() && *r1.ptr == '.') {
      std::from_chars(r1.ptr + 1, num.data() + num.size(), minor);
    }
    if (major < 1 || (major == 1 && minor < 6)) {
      throw std::runtime_error(prefix + "memcached " + printable(num) +
                               " has no meta protocol (1.6 or later); use the ascii protocol");
    }
  }
  return std::make_unique<MemcachedTarget>(o, std::move(s));
}

}  // namespace buddy::bench
