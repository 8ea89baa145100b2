// What buddykv-bench's TCP targets (memcached_target, redis_target) share: one non-blocking TCP
// connection per bench thread, requests pipelined (everything submitted between two poll()
// calls goes out in one send()), answers parsed as a stream of "line\r\n[data\r\n]" and matched
// to requests in the order they were written, a timeout on the oldest outstanding request, and
// a broken connection reported as an error for every outstanding and later request.
//
// A protocol is a subclass: encode() appends one request to out_, parse() turns complete
// answers at the front of the receive buffer into Done entries with next_line(), take_data(),
// pop() and consume(), and protocol_error() fails the connection on an answer that does not fit.
//
// Reads and writes use ppoll(), so a large burst never deadlocks (a server stops reading while
// its answers are not read) and partial reads and writes are resumed. GET values are returned
// as views into the receive buffer, which is compacted or grown only at the start of a poll()
// or before the first answer of that poll() is handed out.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "target.hpp"

namespace buddy::bench {

using TcpClock = std::chrono::steady_clock;

std::uint64_t tcp_now_ns();

// An owned file descriptor.
class Socket {
 public:
  Socket() = default;
  explicit Socket(int fd) : fd_(fd) {}
  Socket(Socket&& o) noexcept;
  Socket& operator=(Socket&& o) noexcept;
  ~Socket() { reset(); }
  void reset();
  int get() const { return fd_; }

 private:
  int fd_ = -1;
};

// Waits until fd is ready for `events` or the deadline passes; false on timeout.
bool wait_fd(int fd, short events, TcpClock::time_point deadline);

// Connects with a timeout; returns a non-blocking TCP_NODELAY socket. Throws
// std::runtime_error(prefix + reason).
Socket connect_tcp(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                   const std::string& prefix);

// Sends `request` and returns the one answer line (without "\r\n"); throws
// std::runtime_error(prefix + reason) on a timeout, a closed connection, no line within 4 KiB
// (`not_server`: e.g. "not a memcached") or bytes after the line.
std::string handshake(int fd, std::string_view request, std::chrono::milliseconds timeout,
                      const std::string& prefix, std::string_view not_server);

// Throws std::runtime_error(prefix + reason) unless 1 <= window <= 1<<20.
void check_window(std::size_t window, const std::string& prefix);

// At most 60 printable characters of s, for error messages.
std::string printable(std::string_view s);
bool parse_size(std::string_view tok, std::size_t& v);
void append_number(std::string& s, std::size_t v);

class PipelinedTarget : public Target {
 public:
  bool submit(OpKind op, std::string_view key, std::string_view value, std::uint64_t tag) override;
  std::size_t poll(std::span<Done> out, std::chrono::microseconds wait) override;
  std::size_t outstanding() const override { return count_ + local_.size(); }
  TargetCounters counters() const override { return ctr_; }

 protected:
  struct Pending {
    std::uint64_t tag = 0;
    std::uint64_t t0 = 0;
    OpKind op = OpKind::get;
    bool last_in_get = false;  // memcached ascii: the last key of its "get" line
    std::string key;           // memcached ascii: to match "VALUE <key>" lines
  };

  // server: "memcached", "redis" (error messages say "<server> at HOST:PORT ...").
  PipelinedTarget(std::string server, const std::string& host, std::uint16_t port, Socket s,
                  std::size_t window, std::chrono::milliseconds timeout);

  // A key the server cannot take: the reason (answered locally, not sent), else empty.
  virtual std::string_view reject(std::string_view key) const = 0;
  // Appends the request to out_; p (ring index idx) is its slot, tag/t0/op already set.
  virtual void encode(OpKind op, std::string_view key, std::string_view value, Pending& p,
                      std::size_t idx) = 0;
  // Called before poll() sends what is queued (memcached ascii closes its "get" line).
  virtual void finish_batch() {}
  // Parses complete answers, at most out.size(); stops at an incomplete one.
  virtual std::size_t parse(std::span<Done> out) = 0;
  // The connection failed: forget protocol state.
  virtual void reset_protocol() {}

  // The next answer line at the front of the receive buffer. false: incomplete (or the stream
  // is broken now: a line over 4 KiB or not ended by "\r\n"). used: its bytes with "\r\n".
  bool next_line(std::string_view& line, std::size_t& used);
  // A data block of len bytes plus "\r\n" after the `used` bytes of `line`. false: incomplete
  // (need_ set) or broken. On true, `used` covers the block and `data` views it.
  bool take_data(std::string_view line, std::size_t len, std::size_t& used, std::string_view& data);
  void consume(std::size_t used) {
    in_begin_ += used;
    need_ = 0;
  }
  // Finishes the oldest outstanding request with `outcome`.
  void pop(Done& d, Outcome outcome);
  void protocol_error(std::string_view line, std::string_view why);
  bool broken() const { return broken_; }
  Pending& front() { return ring_[head_]; }
  Pending& slot(std::size_t idx) { return ring_[idx]; }
  std::size_t pending() const { return count_; }

  std::string out_;  // requests not yet written; out_[0, out_sent_) already are

 private:
  struct Local {  // answered without the server: bad key, or the connection is gone
    std::uint64_t tag;
    std::uint64_t t0;
    OpKind op;
    Outcome outcome;
    std::string_view detail;
  };
  enum class Read { got, would_block, failed };

  void compact();
  void send_some();
  Read receive(bool may_grow);
  void fail(std::string reason, Outcome outcome = Outcome::error);
  std::size_t drain_local(std::span<Done> out);

  std::string server_;
  std::string where_;  // "<server> at HOST:PORT"
  std::chrono::milliseconds timeout_;
  Socket sock_;
  std::vector<Pending> ring_;  // outstanding requests in the order they were written
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::deque<Local> local_;
  std::size_t out_sent_ = 0;
  std::vector<char> in_;  // answers received; [in_begin_, in_end_) not parsed yet
  std::size_t in_begin_ = 0;
  std::size_t in_end_ = 0;
  std::size_t need_ = 0;  // bytes from in_begin_ the next answer needs (a large value)
  std::uint64_t rx_ns_ = 0;
  std::uint64_t last_progress_ns_ = 0;
  bool broken_ = false;
  Outcome broken_outcome_ = Outcome::error;
  std::string reason_;
  TargetCounters ctr_;
};

}  // namespace buddy::bench
