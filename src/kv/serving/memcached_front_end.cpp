#include "buddy/kv/serving/memcached_front_end.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

#include "buddy/base/clock.hpp"
#include "buddy/kv/wire/memcached_item.hpp"
#include "buddy/kv/wire/parse.hpp"
#include "buddy/kv/wire/udp.hpp"
#include "buddy/kv/wire/writer.hpp"
#include "buddy/qp/backoff.hpp"

namespace buddy::kv::serving {

namespace mc = wire::mc;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::string_view kVersion = "VERSION 1.6.0-buddykv\r\n";
constexpr std::string_view kNonNumeric =
    "CLIENT_ERROR cannot increment or decrement non-numeric value\r\n";
constexpr std::string_view kOutOfMemory = "SERVER_ERROR out of memory storing object\r\n";
constexpr std::string_view kTooLarge = "SERVER_ERROR object too large for cache\r\n";
constexpr std::string_view kTimeout = "SERVER_ERROR backend timeout\r\n";
constexpr std::string_view kTooMany = "SERVER_ERROR too many open connections\r\n";
constexpr std::size_t kReadChunk = 64 * 1024;
constexpr std::size_t kMaxOut = 4u << 20;  // a connection's unsent answers: stop reading past it
constexpr std::size_t kMaxQueued = 1024;   // parsed commands waiting per connection
// Native requests in flight: their answers must fit the UDP socket's receive buffer between two
// receives (the kernel caps SO_RCVBUF at net.core.rmem_max, often 208 KiB), or they are lost and
// wait for a retransmission.
constexpr std::size_t kMaxNative = 256;
constexpr auto kTimedOut = static_cast<wire::Status>(255);

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("memcached port: " + what + ": " + std::strerror(errno));
}

}  // namespace

struct MemcachedFrontEnd::Impl {
  struct Conn;

  struct Result {
    wire::Status status = wire::Status::ok;
    std::string value;
  };

  // One command, from parse to answer.
  struct Task {
    Conn* conn = nullptr;  // null once its connection is gone
    std::string own;       // the command's bytes; cmd's views point here
    mc::Command cmd;
    std::string reply;
    bool done = false, started = false, close_after = false;
    int phase = 0;  // 1: reading, 2: writing
    std::uint32_t outstanding = 0;
    std::vector<Result> got;  // phase 1: per key
    wire::Status write_status = wire::Status::ok;
    std::vector<std::uint64_t> locks;  // key hashes
    bool exclusive = false;
  };

  struct Conn {
    int fd = -1;
    std::string in;
    std::size_t in_off = 0;
    std::size_t swallow = 0;
    std::deque<std::unique_ptr<Task>> q;
    std::size_t started = 0;  // tasks of q started and not yet answered
    std::size_t next = 0;     // q[0..next) are started or answered: tasks start in order
    std::string out;
    bool closing = false;  // no more reading; closed once everything queued is answered
    bool dead = false;
  };

  struct Sub {
    Task* task = nullptr;
    std::uint32_t idx = 0;
    wire::Opcode op = wire::Opcode::get;
    std::string key;
    std::string value;
    std::uint64_t hash = 0;
    std::uint16_t port = 0;  // index into map.ports
    Clock::time_point sent;
    int tries = 0;
  };

  struct Lock {
    std::uint32_t readers = 0;
    bool writer = false;
  };

  MemcachedConfig cfg;
  MemcachedCounters& c;
  mc::Limits lim;
  int listen_fd = -1, ep = -1;
  std::uint16_t port = 0;
  std::unique_ptr<wire::UdpSocket> udp;
  std::vector<wire::Endpoint> dests;
  std::unordered_map<int, std::unique_ptr<Conn>> conns;
  std::unordered_set<int> busy;  // connections with input, commands or answers pending
  std::vector<std::unique_ptr<Task>> orphans;  // tasks of closed connections still in flight
  std::unordered_map<std::uint64_t, Sub> inflight;
  // Nodes of answered requests and of freed locks, kept for the next ones: no allocation.
  std::vector<decltype(inflight)::node_type> free_subs;
  // Key locks by key hash: two keys of one hash share a lock, which only orders them more.
  std::unordered_map<std::uint64_t, Lock> locks;
  std::vector<decltype(locks)::node_type> free_locks;
  std::vector<std::uint64_t> lock_keys;           // try_lock's scratch
  std::vector<std::unique_ptr<Task>> free_tasks;  // answered tasks, their buffers kept
  std::uint32_t cpu_steps = 0;
  std::uint64_t next_id = 1;
  std::uint64_t next_cas = 1;
  std::uint32_t epoch = 1;
  std::uint32_t flush_at = 0;  // a delayed flush_all: the epoch moves on at this time
  std::int64_t now_s = 0;
  Clock::time_point now_tp;  // read once per step and per receive
  Clock::time_point last_scan;
  // Per serving port: the request datagram being filled.
  std::vector<std::vector<std::byte>> tx_bufs;
  std::vector<wire::RequestWriter> writers;
  std::vector<wire::Datagram> tx;
  std::vector<std::byte> rx_bytes;
  std::vector<wire::Datagram> rx;
  std::vector<wire::ResponseView> views;
  // Hosted on a serving thread (cfg.host): its port's in-process link and socket.
  wire::LinkedTransport* link = nullptr;
  int local_port = -1;  // index of the host's port in cfg.map.ports
  int worker_fd = -1, udp_fd = -1;
  bool worker_ready = false, udp_ready = false;
  // A PE that shares the core needs it: spin little, then yield and sleep briefly.
  qp::Backoff waiting_for_pe{
      qp::BackoffConfig{.spins = 16, .yields = 16, .min_sleep_us = 5, .max_sleep_us = 50}};

  Impl(MemcachedConfig config, MemcachedCounters& counters) : cfg(std::move(config)), c(counters) {
    lim.max_line = cfg.max_line;
    lim.max_value = max_value();
    const wire::Endpoint b = wire::make_endpoint(cfg.bind, cfg.port);
    listen_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (listen_fd < 0) fail("socket");
    const int one = 1;
    ::setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(b.port);
    a.sin_addr.s_addr = htonl(b.ip);
    if (::bind(listen_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      const int e = errno;
      ::close(listen_fd);
      errno = e;
      fail("bind " + wire::to_string(b));
    }
    if (::listen(listen_fd, 1024) != 0) fail("listen");
    socklen_t len = sizeof a;
    ::getsockname(listen_fd, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    ep = ::epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) fail("epoll_create1");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = listen_fd;
    ::epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd, &ev);
    udp = std::make_unique<wire::UdpSocket>(wire::make_endpoint(cfg.bind, 0));
    for (std::uint16_t p : cfg.map.ports) dests.push_back(wire::make_endpoint(cfg.bind, p));
    tx_bufs.assign(dests.size(), std::vector<std::byte>(cfg.map.max_datagram));
    writers.resize(dests.size());
    for (std::size_t i = 0; i < dests.size(); ++i) writers[i] = wire::RequestWriter(tx_bufs[i], 0);
    rx_bytes.resize(std::size_t{32} * (cfg.map.max_datagram + 1));
    rx.resize(32);
    for (std::size_t i = 0; i < rx.size(); ++i) {
      rx[i].data = rx_bytes.data() + i * (cfg.map.max_datagram + 1);
      rx[i].capacity = cfg.map.max_datagram;
    }
    views.resize(wire::kMaxCount);
    if (cfg.host != nullptr) {
      link = cfg.host->link();
      if (link == nullptr || cfg.host->plan().port < 0) {
        throw std::runtime_error("memcached port: its host thread has no linked port");
      }
      local_port = cfg.host->plan().port;
      worker_fd = link->wait_fd();
      udp_fd = udp->fd();
      for (int fd : {worker_fd, udp_fd}) {
        if (fd < 0) continue;
        epoll_event wev{};
        wev.events = EPOLLIN;
        wev.data.fd = fd;
        ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &wev);
      }
    }
  }

  ~Impl() {
    for (auto& [fd, conn] : conns) ::close(fd);
    if (ep >= 0) ::close(ep);
    if (listen_fd >= 0) ::close(listen_fd);
  }

  std::size_t max_value() const { return memcached_max_value(cfg.map.max_datagram); }

  // ---- tasks: reused, so that a command costs no allocation once the buffers have grown ----

  std::unique_ptr<Task> new_task(Conn& conn) {
    std::unique_ptr<Task> t;
    if (free_tasks.empty()) {
      t = std::make_unique<Task>();
    } else {
      t = std::move(free_tasks.back());
      free_tasks.pop_back();
    }
    t->conn = &conn;
    return t;
  }

  void recycle(std::unique_ptr<Task> t) {
    if (!t || free_tasks.size() >= 4096) return;
    t->conn = nullptr;
    t->own.clear();
    t->reply.clear();
    t->done = t->started = t->close_after = false;
    t->phase = 0;
    t->outstanding = 0;
    t->write_status = wire::Status::ok;
    t->locks.clear();
    t->exclusive = false;
    free_tasks.push_back(std::move(t));
  }

  // Points cmd's views at the same bytes copied from `from` to `to`.
  static void rebase(mc::Command& cmd, const char* from, std::size_t len, const char* to) {
    auto move = [&](std::string_view& v) {
      if (v.data() >= from && v.data() + v.size() <= from + len && !v.empty()) {
        v = std::string_view(to + (v.data() - from), v.size());
      }
    };
    for (auto& k : cmd.keys) move(k);
    move(cmd.data);
    move(cmd.meta.opaque);
  }

  // ---- connections ----

  void accept_all() {
    for (;;) {
      const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;
      if (conns.size() >= cfg.max_connections) {
        ++c.refused_connections;
        [[maybe_unused]] ssize_t w = ::write(fd, kTooMany.data(), kTooMany.size());
        ::close(fd);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.fd = fd;
      ::epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
      auto conn = std::make_unique<Conn>();
      conn->fd = fd;
      conns.emplace(fd, std::move(conn));
      ++c.connections;
    }
  }

  void close_conn(Conn& conn) {
    if (conn.dead) return;
    conn.dead = true;
    ::epoll_ctl(ep, EPOLL_CTL_DEL, conn.fd, nullptr);
    ::close(conn.fd);
    for (auto& t : conn.q) {
      t->conn = nullptr;
      if (t->started && !t->done) {
        orphans.push_back(std::move(t));
      } else {
        recycle(std::move(t));
      }
    }
    conn.q.clear();
  }

  void read_conn(Conn& conn) {
    if (conn.closing || conn.out.size() > kMaxOut || conn.q.size() >= kMaxQueued) return;
    for (int rounds = 0; rounds < 4; ++rounds) {
      const std::size_t old = conn.in.size();
      conn.in.resize(old + kReadChunk);
      const ssize_t n = ::read(conn.fd, conn.in.data() + old, kReadChunk);
      conn.in.resize(old + (n > 0 ? static_cast<std::size_t>(n) : 0));
      if (n == 0) {  // the peer closed: answer what it sent, then close
        conn.closing = true;
        break;
      }
      if (n < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) conn.closing = true;
        break;
      }
      c.bytes_in += static_cast<std::uint64_t>(n);
      if (static_cast<std::size_t>(n) < kReadChunk) break;
    }
    parse_conn(conn);
  }

  void parse_conn(Conn& conn) {
    while (!conn.dead && conn.q.size() < kMaxQueued) {
      if (conn.swallow > 0) {
        const std::size_t n = std::min(conn.swallow, conn.in.size() - conn.in_off);
        conn.in_off += n;
        conn.swallow -= n;
        if (conn.swallow > 0) break;
      }
      const std::string_view buf(conn.in.data() + conn.in_off, conn.in.size() - conn.in_off);
      if (buf.empty()) break;
      auto t = new_task(conn);
      const mc::Result r = mc::parse(buf, lim, t->cmd);
      if (r.kind == mc::Result::Kind::need_more) {
        recycle(std::move(t));
        break;
      }
      if (r.kind == mc::Result::Kind::close && r.error == mc::Error::line_too_long) {
        ++c.errors[static_cast<std::size_t>(r.error)];
        ++c.closed_bad_line;
        t->done = true;
        t->close_after = true;
        conn.q.push_back(std::move(t));
        conn.closing = true;
        break;
      }
      if (r.kind == mc::Result::Kind::error) {
        ++c.errors[static_cast<std::size_t>(r.error)];
        t->reply.assign(r.reply);
        if (r.invalidate && !t->cmd.key().empty()) {  // memcached drops the old item
          t->own.assign(t->cmd.key());
          t->cmd = mc::Command{};
          t->cmd.op = mc::Op::del;
          t->cmd.keys.push_back(t->own);
          t->phase = -1;  // a plain delete; the reply is the error line
        } else {
          t->done = true;
        }
        conn.in_off += r.consumed;
        conn.swallow = r.swallow;
        conn.q.push_back(std::move(t));
        continue;
      }
      // A command: copy its bytes and point its views at the copy.
      t->own.assign(buf.substr(0, r.consumed));
      rebase(t->cmd, buf.data(), r.consumed, t->own.data());
      ++c.commands[static_cast<std::size_t>(t->cmd.op)];
      conn.in_off += r.consumed;
      if (r.kind == mc::Result::Kind::close) {  // quit
        t->done = true;
        t->close_after = true;
        conn.q.push_back(std::move(t));
        conn.closing = true;
        break;
      }
      conn.q.push_back(std::move(t));
    }
    if (conn.in_off > 0 && (conn.in_off == conn.in.size() || conn.in_off > 65536)) {
      conn.in.erase(0, conn.in_off);
      conn.in_off = 0;
    }
  }

  // Answers in order, writes what the socket takes, closes when done.
  void flush_conn(Conn& conn) {
    while (!conn.q.empty() && conn.q.front()->done) {
      Task& t = *conn.q.front();
      conn.out.append(t.reply);
      if (t.started) --conn.started;
      const bool close = t.close_after;
      recycle(std::move(conn.q.front()));
      conn.q.pop_front();
      if (conn.next > 0) --conn.next;
      if (close) {
        conn.closing = true;
        for (auto& rest : conn.q) {  // nothing after quit is answered
          rest->conn = nullptr;
          if (rest->started && !rest->done) {
            orphans.push_back(std::move(rest));
          } else {
            recycle(std::move(rest));
          }
        }
        conn.q.clear();
        conn.next = 0;
        break;
      }
    }
    while (!conn.out.empty()) {
      const ssize_t n = ::send(conn.fd, conn.out.data(), conn.out.size(), MSG_NOSIGNAL);
      if (n <= 0) {
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          close_conn(conn);
          return;
        }
        break;
      }
      c.bytes_out += static_cast<std::uint64_t>(n);
      conn.out.erase(0, static_cast<std::size_t>(n));
    }
    if (conn.closing && conn.q.empty() && conn.out.empty()) close_conn(conn);
  }

  // ---- key locks ----

  bool try_lock(Task& t) {
    if (t.cmd.op == mc::Op::version || t.cmd.op == mc::Op::stats || t.cmd.op == mc::Op::mn ||
        t.cmd.op == mc::Op::verbosity || t.cmd.op == mc::Op::flush_all) {
      return true;
    }
    std::vector<std::uint64_t>& keys = lock_keys;
    keys.clear();
    for (auto k : t.cmd.keys) keys.push_back(wire::key_hash(k));
    std::sort(keys.begin(), keys.end());
    keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
    const bool excl = !mc::reads_only(t.cmd);
    for (const auto k : keys) {
      auto it = locks.find(k);
      if (it == locks.end()) continue;
      if (it->second.writer || (excl && it->second.readers > 0)) return false;
    }
    for (const auto k : keys) {
      auto it = locks.find(k);
      if (it == locks.end()) {
        if (free_locks.empty()) {
          it = locks.emplace(k, Lock{}).first;
        } else {
          auto node = std::move(free_locks.back());
          free_locks.pop_back();
          node.key() = k;
          node.mapped() = Lock{};
          it = locks.insert(std::move(node)).position;
        }
      }
      Lock& l = it->second;
      if (excl) {
        l.writer = true;
      } else {
        ++l.readers;
      }
    }
    t.locks.assign(keys.begin(), keys.end());
    t.exclusive = excl;
    return true;
  }

  void unlock(Task& t) {
    for (const auto k : t.locks) {
      auto it = locks.find(k);
      if (it == locks.end()) continue;
      if (t.exclusive) {
        it->second.writer = false;
      } else {
        --it->second.readers;
      }
      if (!it->second.writer && it->second.readers == 0) {
        if (free_locks.size() < 4096) {
          free_locks.push_back(locks.extract(it));
        } else {
          locks.erase(it);
        }
      }
    }
    t.locks.clear();
  }

  // ---- native requests ----

  void send_sub(std::uint64_t id, Sub& s) {
    wire::RequestWriter& w = writers[s.port];
    if (!w.add(s.op, s.hash, id, 0, s.key, s.value)) {
      flush_port(s.port);
      writers[s.port].add(s.op, s.hash, id, 0, s.key, s.value);
    }
    s.sent = now_tp;
    ++c.native_requests;
  }

  void issue(Task& t, std::uint32_t idx, wire::Opcode op, std::string_view key,
             std::string value = {}) {
    const std::uint64_t id = next_id++;
    auto it = inflight.end();
    if (!free_subs.empty()) {
      auto node = std::move(free_subs.back());
      free_subs.pop_back();
      node.key() = id;
      it = inflight.insert(std::move(node)).position;
    } else {
      it = inflight.emplace(id, Sub{}).first;
    }
    Sub& s = it->second;
    s.task = &t;
    s.idx = idx;
    s.op = op;
    s.key.assign(key);
    s.value = std::move(value);
    s.hash = wire::key_hash(key);
    s.port = cfg.map.port_index_for(s.hash);
    s.tries = 0;
    ++t.outstanding;
    send_sub(id, s);
  }

  void flush_port(std::size_t p) {
    wire::RequestWriter& w = writers[p];
    if (w.empty()) return;
    const std::size_t n = w.finish();
    if (static_cast<int>(p) == local_port) {  // the host thread's own port: in-process
      link->deliver({tx_bufs[p].data(), n});
    } else {
      wire::Datagram d{tx_bufs[p].data(), static_cast<std::uint32_t>(n),
                       static_cast<std::uint32_t>(n), dests[p]};
      udp->send_burst({&d, 1});  // a datagram the socket refuses is retransmitted on timeout
    }
    w = wire::RequestWriter(tx_bufs[p], 0);
  }

  void flush_ports() {
    for (std::size_t p = 0; p < writers.size(); ++p) flush_port(p);
  }

  // The answers: the host port's in-process ones, then the socket's (hosted: only when epoll said
  // it has some).
  bool receive(std::chrono::microseconds wait) {
    bool got = false;
    if (link != nullptr) {
      while (const std::size_t n = link->take(rx)) {
        got = true;
        answers(n);
      }
      if (!udp_ready) return got;
      udp_ready = false;
    }
    const std::size_t n = udp->recv_burst(rx, wait);
    answers(n);
    return got || n > 0;
  }

  void answers(std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      if (rx[i].size > rx[i].capacity) continue;
      const auto parsed = wire::parse_responses({rx[i].data, rx[i].size}, views);
      if (parsed.drop != wire::Drop::none) continue;
      for (std::size_t k = 0; k < parsed.count; ++k) {
        auto it = inflight.find(views[k].h.request_id);
        if (it == inflight.end()) continue;  // a late answer to a retransmitted request
        auto node = inflight.extract(it);
        answered(*node.mapped().task, node.mapped().idx, views[k].h.status, views[k].value);
        if (free_subs.size() < 4096) free_subs.push_back(std::move(node));
      }
    }
  }

  void retransmit() {
    const auto now = now_tp;
    if (now - last_scan < std::chrono::milliseconds(5)) return;
    last_scan = now;
    std::vector<std::uint64_t> expired;
    for (auto& [id, s] : inflight) {
      if (now - s.sent < cfg.timeout * (1 << s.tries)) continue;
      if (s.tries >= cfg.max_retries) {
        expired.push_back(id);
        continue;
      }
      ++s.tries;
      ++c.retransmits;
      send_sub(id, s);
    }
    for (std::uint64_t id : expired) {
      Sub s = std::move(inflight[id]);
      inflight.erase(id);
      answered(*s.task, s.idx, kTimedOut, {});
    }
  }

  void answered(Task& t, std::uint32_t idx, wire::Status st, std::string_view value) {
    if (t.phase == 1) {
      t.got[idx].status = st;
      t.got[idx].value.assign(value);
    } else if (st != wire::Status::ok && st != wire::Status::not_found) {
      t.write_status = st;
    }
    if (--t.outstanding == 0) advance(t);
  }

  // ---- commands ----

  struct Item {
    bool live = false;
    mc::ItemHeader h;
    std::string_view data;
  };

  Item item_of(const Result& r) const {
    Item it;
    if (r.status != wire::Status::ok) return it;
    it.h = mc::decode_item(r.value, it.data);
    if (!it.h.native) {
      if (mc::past_due(it.h.exptime, now_s)) return it;
      if (it.h.epoch != epoch) return it;
    }
    it.live = true;
    return it;
  }

  std::int64_t ttl_of(const mc::ItemHeader& h) const {
    return h.exptime == 0 ? -1 : std::max<std::int64_t>(0, h.exptime - now_s);
  }

  mc::ItemHeader fresh(std::uint32_t flags, std::int64_t exptime) {
    mc::ItemHeader h;
    h.flags = flags;
    h.cas = next_cas++;
    h.exptime = mc::absolute_exptime(exptime, now_s);
    h.epoch = epoch;
    return h;
  }

  void write(Task& t, std::string_view key, const mc::ItemHeader& h, std::string_view data) {
    t.phase = 2;
    issue(t, 0, wire::Opcode::set, key, mc::encode_item(h, data));
  }

  void finish(Task& t, std::string_view reply) {
    t.reply.assign(reply);
    finish(t);
  }
  void finish(Task& t) {
    if (t.cmd.noreply) t.reply.clear();
    t.done = true;
    unlock(t);
  }

  void start(Task& t) {
    t.started = true;
    const mc::Command& cmd = t.cmd;
    if (t.phase == -1) {  // the delete after a too-large set
      t.phase = 2;
      issue(t, 0, wire::Opcode::del, cmd.key());
      return;
    }
    switch (cmd.op) {
      case mc::Op::version:
        return finish(t, kVersion);
      case mc::Op::mn:
        return finish(t, "MN\r\n");
      case mc::Op::verbosity:
        return finish(t, "OK\r\n");
      case mc::Op::stats:
        t.reply = stats_text();
        return finish(t);
      case mc::Op::flush_all:
        if (cmd.exptime > 0) {
          flush_at = mc::absolute_exptime(cmd.exptime, now_s);
        } else {
          ++epoch;
        }
        return finish(t, "OK\r\n");
      case mc::Op::set:
        t.reply = "STORED\r\n";
        return write(t, cmd.key(), fresh(cmd.flags, cmd.exptime), cmd.data);
      case mc::Op::ms:
        if (cmd.meta.mode == 'S' && !cmd.meta.has_cas) {
          const mc::ItemHeader h = fresh(cmd.meta.flags, cmd.meta.has_ttl ? cmd.meta.ttl : 0);
          if (!cmd.meta.q) {
            const mc::ItemInfo info{cmd.key(), h.flags, h.cas, ttl_of(h), cmd.data.size()};
            mc::write_meta(t.reply, "HD", cmd.meta, info);
          }
          return write(t, cmd.key(), h, cmd.data);
        }
        break;
      default:
        break;
    }
    t.phase = 1;
    t.got.resize(cmd.keys.size());
    for (Result& r : t.got) {
      r.status = wire::Status::ok;
      r.value.clear();
    }
    for (std::uint32_t i = 0; i < cmd.keys.size(); ++i) issue(t, i, wire::Opcode::get, cmd.keys[i]);
  }

  // After a phase's answers are all in: the next phase, or the reply.
  void advance(Task& t) {
    if (t.phase == 2) {
      if (t.write_status == kTimedOut) {
        ++c.timeouts;
        t.reply.assign(kTimeout);
        t.cmd.noreply = false;
      } else if (t.write_status == wire::Status::too_large) {
        ++c.server_errors;
        t.reply.assign(kTooLarge);
      } else if (t.write_status != wire::Status::ok) {
        ++c.server_errors;
        t.reply.assign(kOutOfMemory);
      }
      return finish(t);
    }
    for (const Result& r : t.got) {
      if (r.status == kTimedOut) {
        ++c.timeouts;
        t.cmd.noreply = false;
        return finish(t, kTimeout);
      }
    }
    const mc::Command& cmd = t.cmd;
    const mc::Meta& m = cmd.meta;
    const std::string_view key = cmd.key();
    std::string& out = t.reply;  // written in place: the task's buffer is reused
    out.clear();
    switch (cmd.op) {
      case mc::Op::get:
      case mc::Op::gets:
      case mc::Op::gat:
      case mc::Op::gats: {
        const bool touch = cmd.op == mc::Op::gat || cmd.op == mc::Op::gats;
        const bool cas = cmd.op == mc::Op::gets || cmd.op == mc::Op::gats;
        std::unordered_set<std::string_view> touched;
        for (std::size_t i = 0; i < cmd.keys.size(); ++i) {
          Item it = item_of(t.got[i]);
          if (!it.live) continue;
          if (cas) {
            mc::write_value_cas(out, cmd.keys[i], it.h.flags, it.data, it.h.cas);
          } else {
            mc::write_value(out, cmd.keys[i], it.h.flags, it.data);
          }
          if (touch && touched.insert(cmd.keys[i]).second) {
            mc::ItemHeader h = it.h;
            h.native = false;
            h.exptime = mc::absolute_exptime(cmd.exptime, now_s);
            t.phase = 2;
            issue(t, 0, wire::Opcode::set, cmd.keys[i], mc::encode_item(h, it.data));
          }
        }
        out.append("END\r\n");
        if (t.outstanding == 0) finish(t);
        return;
      }
      default:
        break;
    }
    Item it = item_of(t.got[0]);
    switch (cmd.op) {
      case mc::Op::add:
        if (it.live) return finish(t, "NOT_STORED\r\n");
        t.reply = "STORED\r\n";
        return write(t, key, fresh(cmd.flags, cmd.exptime), cmd.data);
      case mc::Op::replace:
        if (!it.live) return finish(t, "NOT_STORED\r\n");
        t.reply = "STORED\r\n";
        return write(t, key, fresh(cmd.flags, cmd.exptime), cmd.data);
      case mc::Op::append:
      case mc::Op::prepend: {
        if (!it.live) return finish(t, "NOT_STORED\r\n");
        const std::string joined = cmd.op == mc::Op::append
                                       ? std::string(it.data) + std::string(cmd.data)
                                       : std::string(cmd.data) + std::string(it.data);
        if (joined.size() > lim.max_value) return finish(t, kOutOfMemory);
        mc::ItemHeader h = it.h;
        h.native = false;
        h.cas = next_cas++;
        h.epoch = epoch;
        t.reply = "STORED\r\n";
        return write(t, key, h, joined);
      }
      case mc::Op::cas:
        if (!it.live) return finish(t, "NOT_FOUND\r\n");
        if (it.h.cas != cmd.cas) return finish(t, "EXISTS\r\n");
        t.reply = "STORED\r\n";
        return write(t, key, fresh(cmd.flags, cmd.exptime), cmd.data);
      case mc::Op::del:
        if (!it.live) return finish(t, "NOT_FOUND\r\n");
        t.reply = "DELETED\r\n";
        t.phase = 2;
        return issue(t, 0, wire::Opcode::del, key);
      case mc::Op::touch: {
        if (!it.live) return finish(t, "NOT_FOUND\r\n");
        mc::ItemHeader h = it.h;
        h.native = false;
        h.epoch = epoch;
        h.exptime = mc::absolute_exptime(cmd.exptime, now_s);
        t.reply = "TOUCHED\r\n";
        return write(t, key, h, it.data);
      }
      case mc::Op::incr:
      case mc::Op::decr: {
        if (!it.live) return finish(t, "NOT_FOUND\r\n");
        std::uint64_t v = 0;
        if (!mc::parse_counter(it.data, v)) return finish(t, kNonNumeric);
        v = cmd.op == mc::Op::incr ? v + cmd.delta : (v > cmd.delta ? v - cmd.delta : 0);
        mc::ItemHeader h = it.h;
        h.native = false;
        h.cas = next_cas++;
        h.epoch = epoch;
        t.reply = std::to_string(v) + "\r\n";
        return write(t, key, h, mc::counter_value(v, it.data.size()));
      }
      case mc::Op::mg: {
        mc::ItemInfo info{key, 0, 0, -1, 0};
        if (!it.live) {
          if (m.q) return finish(t);
          mc::write_meta(out, "EN", m, info);
          return finish(t);
        }
        mc::ItemHeader h = it.h;
        if (m.has_ttl) h.exptime = mc::absolute_exptime(m.ttl, now_s);
        info = {key, h.flags, h.cas, ttl_of(h), it.data.size()};
        mc::write_meta(out, m.v ? "VA" : "HD", m, info, it.data);
        if (m.has_ttl) {
          h.native = false;
          h.epoch = epoch;
          return write(t, key, h, it.data);
        }
        return finish(t);
      }
      case mc::Op::ms: {
        mc::ItemInfo info{key, 0, 0, -1, 0};
        auto answer = [&](std::string_view code) {
          if (m.q && code == "HD") return;
          mc::write_meta(out, code, m, info);
        };
        const char mode = m.mode;
        if (m.has_cas) {
          if (!it.live) {
            answer("NF");
            return finish(t);
          }
          if (it.h.cas != m.compare) {
            answer("EX");
            return finish(t);
          }
        }
        if ((mode == 'E' && it.live) || ((mode == 'A' || mode == 'P' || mode == 'R') && !it.live)) {
          answer("NS");
          return finish(t);
        }
        mc::ItemHeader h = fresh(m.flags, m.has_ttl ? m.ttl : 0);
        std::string data(cmd.data);
        if (mode == 'A' || mode == 'P') {
          data = mode == 'A' ? std::string(it.data) + data : data + std::string(it.data);
          if (data.size() > lim.max_value) return finish(t, kOutOfMemory);
          h.flags = it.h.flags;
          h.exptime = it.h.exptime;
        }
        info = {key, h.flags, h.cas, ttl_of(h), data.size()};
        answer("HD");
        return write(t, key, h, data);
      }
      case mc::Op::md: {
        mc::ItemInfo info{key, 0, 0, -1, 0};
        if (!it.live) {  // q hides HD only
          mc::write_meta(out, "NF", m, info);
          return finish(t);
        }
        if (m.has_cas && it.h.cas != m.compare) {
          mc::write_meta(out, "EX", m, info);
          return finish(t);
        }
        if (!m.q) mc::write_meta(out, "HD", m, info);
        t.phase = 2;
        return issue(t, 0, wire::Opcode::del, key);
      }
      case mc::Op::ma: {
        mc::ItemInfo info{key, 0, 0, -1, 0};
        std::uint64_t v = 0;
        mc::ItemHeader h;
        std::size_t old_len = 0;
        if (!it.live) {
          if (!m.has_vivify) {
            mc::write_meta(out, "NF", m, info);
            return finish(t);
          }
          h = fresh(0, m.vivify);
          v = m.initial;
        } else {
          if (m.has_cas && it.h.cas != m.compare) {
            mc::write_meta(out, "EX", m, info);
            return finish(t);
          }
          if (!mc::parse_counter(it.data, v)) return finish(t, kNonNumeric);
          v = m.mode == 'D' ? (v > m.delta ? v - m.delta : 0) : v + m.delta;
          h = it.h;
          h.native = false;
          h.cas = next_cas++;
          h.epoch = epoch;
          if (m.has_ttl) h.exptime = mc::absolute_exptime(m.ttl, now_s);
          old_len = it.data.size();
        }
        const std::string num = std::to_string(v);
        info = {key, h.flags, h.cas, ttl_of(h), num.size()};
        if (!m.q) mc::write_meta(out, m.v ? "VA" : "HD", m, info, num);
        return write(t, key, h, mc::counter_value(v, old_len));
      }
      default:
        return finish(t, "ERROR\r\n");
    }
  }

  std::string stats_text() const {
    std::string s;
    auto stat = [&](std::string_view name, std::uint64_t v) {
      s.append("STAT ");
      s.append(name);
      s.push_back(' ');
      s.append(std::to_string(v));
      s.append("\r\n");
    };
    stat("pid", static_cast<std::uint64_t>(::getpid()));
    stat("time", static_cast<std::uint64_t>(now_s));
    s.append("STAT version 1.6.0-buddykv\r\n");
    stat("curr_connections", conns.size());
    stat("total_connections", c.connections);
    stat("rejected_connections", c.refused_connections);
    stat("cmd_get", c.commands[static_cast<std::size_t>(mc::Op::get)] +
                        c.commands[static_cast<std::size_t>(mc::Op::gets)]);
    stat("cmd_set", c.commands[static_cast<std::size_t>(mc::Op::set)]);
    stat("bytes_read", c.bytes_in);
    stat("bytes_written", c.bytes_out);
    stat("threads", 1);
    s.append("END\r\n");
    return s;
  }

  // ---- the loop ----

  void start_ready() {
    for (int fd : busy) {
      Conn& cn = *conns.at(fd);
      for (; cn.next < cn.q.size(); ++cn.next) {
        Task& t = *cn.q[cn.next];
        if (t.started || t.done) continue;
        if (cn.started >= cfg.max_inflight || inflight.size() >= kMaxNative || !try_lock(t))
          break;  // in order: later ones wait
        ++cn.started;
        start(t);
      }
    }
  }

  // The clocks, read once per loop, and a delayed flush_all whose time has come.
  void tick() {
    now_s = static_cast<std::int64_t>(std::time(nullptr));
    now_tp = Clock::now();
    if (mc::past_due(flush_at, now_s)) {
      ++epoch;
      flush_at = 0;
    }
  }

  void step(const std::atomic<bool>& stop) {
    tick();
    poll_and_read(inflight.empty() ? 5 : 0);
    start_ready();
    flush_ports();
    if (!inflight.empty()) {
      const auto until = now_tp + std::chrono::microseconds(200);
      while (receive(std::chrono::microseconds(100)) || (now_tp = Clock::now()) < until) {
        if (inflight.empty() || stop.load(std::memory_order_relaxed)) break;
      }
      now_tp = Clock::now();
      retransmit();
      flush_ports();
    }
    start_ready();
    flush_ports();
    answer_conns();
  }

  // One epoll_wait: accepts, reads and parses every ready connection, notes the host's sockets.
  void poll_and_read(int wait_ms) {
    std::array<epoll_event, 64> evs{};
    const int n = ::epoll_wait(ep, evs.data(), static_cast<int>(evs.size()), wait_ms);
    for (int i = 0; i < n; ++i) {
      const int fd = evs[i].data.fd;
      if (fd == listen_fd) {
        accept_all();
        continue;
      }
      if (fd == worker_fd || fd == udp_fd) {
        (fd == worker_fd ? worker_ready : udp_ready) = true;
        continue;
      }
      auto it = conns.find(fd);
      if (it != conns.end()) {
        read_conn(*it->second);
        busy.insert(it->first);
      }
    }
    // Connections that stopped reading for back-pressure resume here.
    for (int fd : busy) {
      Conn& conn = *conns.at(fd);
      if (!conn.closing && conn.q.size() < kMaxQueued / 2 && conn.in_off < conn.in.size())
        parse_conn(conn);
    }
  }

  // Hosted on a serving thread: one round of the connections and the worker, no wait while
  // anything is to be done, one epoll_wait (connections and both sockets) when nothing is.
  void step_hosted(const std::atomic<bool>& stop) {
    tick();
    const bool pending = link->has_requests() || worker_ready || udp_ready || cfg.host->busy();
    poll_and_read(pending ? 0 : (inflight.empty() ? 5 : 1));
    start_ready();
    flush_ports();
    bool moved_any = false;
    for (int round = 0; round < 64 && !stop.load(std::memory_order_relaxed); ++round) {
      bool moved = false;
      if (link->has_requests() || worker_ready || cfg.host->busy()) {
        worker_ready = false;
        moved = cfg.host->step(std::chrono::microseconds{0});
      }
      moved = receive(std::chrono::microseconds{0}) || moved;
      start_ready();
      flush_ports();
      if (!moved) break;
      moved_any = true;
    }
    // A CE waiting on its PE (which may share this core): back off, spin then yield then sleep.
    if (!moved_any && cfg.host->busy()) {
      waiting_for_pe.pause();
    } else {
      waiting_for_pe.reset();
    }
    now_tp = Clock::now();
    retransmit();
    flush_ports();
    answer_conns();
  }

  // Writes every connection's finished answers in order, drops the closed ones.
  void answer_conns() {
    for (auto it = busy.begin(); it != busy.end();) {
      Conn& conn = *conns.at(*it);
      flush_conn(conn);
      if (conn.dead) {
        conns.erase(*it);
        it = busy.erase(it);
      } else if (conn.q.empty() && conn.out.empty() && conn.in_off == conn.in.size() &&
                 !conn.closing) {
        it = busy.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& t : orphans) {
      if (t->done) recycle(std::move(t));
    }
    std::erase_if(orphans, [](const std::unique_ptr<Task>& t) { return !t; });
    c.open_connections = conns.size();
  }
};

MemcachedFrontEnd::MemcachedFrontEnd(MemcachedConfig cfg) {
  impl_ = std::make_unique<Impl>(std::move(cfg), counters_);
}

MemcachedFrontEnd::~MemcachedFrontEnd() = default;

std::uint16_t MemcachedFrontEnd::port() const noexcept {
  return impl_->port;
}

std::size_t MemcachedFrontEnd::max_value() const noexcept {
  return impl_->lim.max_value;
}

std::size_t memcached_max_value(std::uint32_t max_datagram) noexcept {
  const std::size_t req = wire::max_request_value(max_datagram, mc::kMaxKey);
  const std::size_t lim_store = (std::size_t{1} << 20) - mc::kItemHeader;
  return std::min(req - mc::kItemHeader, lim_store);
}

void MemcachedFrontEnd::run(const std::atomic<bool>& stop) {
  const std::uint64_t cpu0 = base::thread_cpu_ns() - counters_.cpu_ns;
  while (!stop.load(std::memory_order_relaxed)) {
    if (impl_->link != nullptr) {
      impl_->step_hosted(stop);
    } else {
      impl_->step(stop);
    }
    if (++impl_->cpu_steps % 16 == 0) counters_.cpu_ns = base::thread_cpu_ns() - cpu0;
    shared_.publish(counters_);
  }
  for (auto& [fd, conn] : impl_->conns) impl_->close_conn(*conn);
  impl_->conns.clear();
  counters_.open_connections = 0;
  counters_.cpu_ns = base::thread_cpu_ns() - cpu0;
  shared_.publish(counters_);
}

}  // namespace buddy::kv::serving
