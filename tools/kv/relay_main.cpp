// buddykv-relay: a lossy UDP relay between buddykv clients and a server, for tests and
// benchmarks on a kernel without netem. It forwards every datagram both ways and, with a seeded
// generator, drops some, duplicates some (the copy is sent late, as a delayed duplicate) and holds
// some back so that later ones overtake them (reordering). Clients talk to its base port as to the
// server's: it rewrites HELLO answers so that every serving port of the server is replaced by a
// port of the relay, and keeps one upstream socket per client so answers find their way back.
// Runs until SIGTERM/SIGINT or --duration; then prints its counters (one line, or JSON).
//   buddykv-relay --server 127.0.0.1:7000 --loss 0.05 --dup 0.01 --reorder 0.05 --port-file F
#include <poll.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "buddy/kv/wire/control.hpp"
#include "buddy/kv/wire/udp.hpp"
#include "cli.hpp"

using namespace buddy::kv;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) {
  g_stop.store(true);
}

constexpr std::size_t kMaxPeers = 1024;  // clients with an upstream socket of their own

struct Counters {
  std::uint64_t up = 0, down = 0;  // datagrams received from clients, from the server
  std::uint64_t dropped = 0, duplicated = 0, reordered = 0, sent = 0, send_failures = 0;
  std::uint64_t hellos = 0, refused_peers = 0;
};

struct Held {
  Clock::time_point at;
  std::uint64_t order;  // ties keep arrival order
  wire::UdpSocket* via;
  wire::Endpoint to;
  std::vector<std::byte> bytes;
  bool operator>(const Held& o) const { return at != o.at ? at > o.at : order > o.order; }
};

class Relay {
 public:
  Relay(wire::Endpoint listen, wire::Endpoint server, double loss, double dup, double reorder,
        std::chrono::microseconds delay, std::uint64_t seed)
      : listen_ip_(listen.ip),
        server_(server),
        loss_(loss),
        dup_(dup),
        reorder_(reorder),
        delay_(delay),
        rng_(seed) {
    base_ = listener_for(server.port, listen.port);
  }

  std::uint16_t port() const { return base_->local().port; }
  const Counters& counters() const { return c_; }

  void run(Clock::time_point end) {
    std::vector<pollfd> fds;
    std::vector<wire::UdpSocket*> socks;
    std::vector<std::byte> buf(wire::kMaxDatagram);
    while (!g_stop.load() && Clock::now() < end) {
      fds.clear();
      socks.clear();
      for (auto& [sp, l] : listeners_) add(fds, socks, l.get());
      for (auto& [peer, u] : upstream_) add(fds, socks, u.get());
      release(Clock::now());
      int wait_ms = 10;
      if (!held_.empty()) {
        const auto d = std::chrono::ceil<std::chrono::milliseconds>(held_.top().at - Clock::now());
        wait_ms = static_cast<int>(std::clamp<std::int64_t>(d.count(), 0, 10));
      }
      if (::poll(fds.data(), fds.size(), wait_ms) <= 0) continue;
      for (std::size_t i = 0; i < fds.size(); ++i) {
        if ((fds[i].revents & POLLIN) == 0) continue;
        for (int burst = 0; burst < 64; ++burst) {
          wire::Datagram d{buf.data(), 0, static_cast<std::uint32_t>(buf.size()), {}};
          if (socks[i]->recv_burst({&d, 1}, std::chrono::microseconds(0)) == 0) break;
          handle(socks[i], d);
        }
      }
    }
  }

 private:
  static void add(std::vector<pollfd>& fds, std::vector<wire::UdpSocket*>& socks,
                  wire::UdpSocket* s) {
    fds.push_back({s->fd(), POLLIN, 0});
    socks.push_back(s);
  }

  // The relay's socket that stands for the server's port sp (made on first use).
  wire::UdpSocket* listener_for(std::uint16_t sp, std::uint16_t want = 0) {
    auto& l = listeners_[sp];
    if (!l) {
      l = std::make_unique<wire::UdpSocket>(wire::Endpoint{listen_ip_, want});
      server_port_of_[l.get()] = sp;
    }
    return l.get();
  }

  void handle(wire::UdpSocket* from, const wire::Datagram& d) {
    std::vector<std::byte> bytes(d.data, d.data + std::min(d.size, d.capacity));
    if (auto it = server_port_of_.find(from); it != server_port_of_.end()) {
      // From a client, to the server port this listener stands for.
      ++c_.up;
      wire::UdpSocket* up = upstream_for(d.peer);
      if (up == nullptr) return;
      forward(up, wire::Endpoint{server_.ip, it->second}, std::move(bytes));
      return;
    }
    // From the server, on a client's upstream socket.
    ++c_.down;
    const wire::Endpoint client = client_of_[from];
    if (d.peer.port == server_.port) {
      auto r = wire::parse_control_response(bytes);
      if (r.drop == wire::Drop::none && r.cmd == wire::Command::hello) {
        ++c_.hellos;
        for (auto& p : r.map.ports) p = listener_for(p)->local().port;
        std::vector<std::byte> out(wire::kMaxDatagram);
        out.resize(
            wire::encode_hello(out, r.header.client_id, r.map, r.assigned_client_id, r.flags));
        if (!out.empty()) bytes = std::move(out);
      }
    }
    forward(listener_for(d.peer.port), client, std::move(bytes));
  }

  wire::UdpSocket* upstream_for(wire::Endpoint peer) {
    const std::uint64_t k = (std::uint64_t{peer.ip} << 16) | peer.port;
    auto& u = upstream_[k];
    if (!u) {
      if (upstream_.size() > kMaxPeers) {
        upstream_.erase(k);
        ++c_.refused_peers;
        return nullptr;
      }
      u = std::make_unique<wire::UdpSocket>(wire::Endpoint{listen_ip_, 0});
      client_of_[u.get()] = peer;
    }
    return u.get();
  }

  void forward(wire::UdpSocket* via, wire::Endpoint to, std::vector<std::byte> bytes) {
    const auto now = Clock::now();
    if (uni_(rng_) < loss_) {
      ++c_.dropped;
      return;
    }
    if (uni_(rng_) < dup_) {  // a late copy: a delayed duplicate
      ++c_.duplicated;
      hold(now + late(), via, to, bytes);
    }
    if (uni_(rng_) < reorder_) {
      ++c_.reordered;
      hold(now + late(), via, to, std::move(bytes));
      return;
    }
    send(via, to, bytes);
  }

  std::chrono::microseconds late() {
    std::uniform_int_distribution<std::int64_t> d(delay_.count() / 2, delay_.count());
    return std::chrono::microseconds(d(rng_));
  }
  void hold(Clock::time_point at, wire::UdpSocket* via, wire::Endpoint to,
            std::vector<std::byte> bytes) {
    held_.push(Held{at, order_++, via, to, std::move(bytes)});
  }
  void release(Clock::time_point now) {
    while (!held_.empty() && held_.top().at <= now) {
      const Held& h = held_.top();
      send(h.via, h.to, h.bytes);
      held_.pop();
    }
  }
  void send(wire::UdpSocket* via, wire::Endpoint to, const std::vector<std::byte>& bytes) {
    wire::Datagram d{const_cast<std::byte*>(bytes.data()), static_cast<std::uint32_t>(bytes.size()),
                     static_cast<std::uint32_t>(bytes.size()), to};
    if (via->send_burst({&d, 1}) == 1) {
      ++c_.sent;
    } else {
      ++c_.send_failures;
    }
  }

  std::uint32_t listen_ip_;
  wire::Endpoint server_;
  double loss_, dup_, reorder_;
  std::chrono::microseconds delay_;
  std::mt19937_64 rng_;
  std::uniform_real_distribution<double> uni_{0.0, 1.0};
  wire::UdpSocket* base_ = nullptr;
  std::map<std::uint16_t, std::unique_ptr<wire::UdpSocket>> listeners_;  // by server port
  std::map<const wire::UdpSocket*, std::uint16_t> server_port_of_;
  std::map<std::uint64_t, std::unique_ptr<wire::UdpSocket>> upstream_;  // by client endpoint
  std::map<const wire::UdpSocket*, wire::Endpoint> client_of_;
  std::priority_queue<Held, std::vector<Held>, std::greater<>> held_;
  std::uint64_t order_ = 0;
  Counters c_;
};

// HOST:PORT where PORT may be 0 (any free port).
wire::Endpoint parse_listen(const std::string& s) {
  const auto colon = s.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("--listen " + s + ": not HOST:PORT");
  const std::string port = s.substr(colon + 1);
  if (port != "0") return wire::parse_endpoint(s);
  wire::Endpoint e = wire::parse_endpoint(s.substr(0, colon) + ":1");
  e.port = 0;
  return e;
}

}  // namespace

int main(int argc, char** argv) {
  std::string listen = "127.0.0.1:0", server, port_file;
  double loss = 0, dup = 0, reorder = 0, delay_ms = 2, duration = 600;
  std::uint64_t seed = 1;
  bool json = false;
  CLI::App app{
      "buddykv-relay: a lossy, duplicating, reordering UDP relay in front of a buddykv "
      "server (seeded)",
      "buddykv-relay"};
  app.footer(
      "Exit status: 0 stopped (SIGTERM, SIGINT or --duration), 1 cannot bind or reach, "
      "2 bad arguments.");
  app.add_option("--server", server, "the server's control address HOST:PORT")->required();
  app.add_option("--listen", listen, "the relay's base address (port 0: any free port)")
      ->capture_default_str();
  app.add_option("--loss", loss, "fraction of datagrams dropped, each direction")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--dup", dup, "fraction duplicated (the copy arrives late)")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--reorder", reorder, "fraction held back so that later datagrams overtake them")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app.add_option("--delay-ms", delay_ms,
                 "how late held and duplicated datagrams go (delay/2..delay)")
      ->check(CLI::Range(0.0, 10000.0))
      ->capture_default_str();
  app.add_option("--seed", seed, "random seed")->capture_default_str();
  app.add_option("--duration", duration, "stop after this many seconds")
      ->check(CLI::Range(0.1, 86400.0))
      ->capture_default_str();
  app.add_option("--port-file", port_file, "write the relay's base port here once it listens");
  app.add_flag("--json", json, "print the final counters as one JSON object");
  if (auto rc = buddy::tools::parse_args(app, argc, argv)) return *rc;
  try {
    Relay r(parse_listen(listen), wire::parse_endpoint(server), loss, dup, reorder,
            std::chrono::microseconds(static_cast<std::int64_t>(delay_ms * 1000)), seed);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    if (!port_file.empty()) {
      const std::string tmp = port_file + ".tmp";
      std::ofstream(tmp) << r.port() << "\n";
      std::rename(tmp.c_str(), port_file.c_str());
    }
    std::fprintf(stderr, "buddykv-relay: %s -> %s, loss %.4g dup %.4g reorder %.4g\n",
                 wire::to_string(wire::Endpoint{parse_listen(listen).ip, r.port()}).c_str(),
                 server.c_str(), loss, dup, reorder);
    r.run(Clock::now() + std::chrono::microseconds(static_cast<std::int64_t>(duration * 1e6)));
    const Counters& c = r.counters();
    if (json) {
      std::printf(
          "{\"up\":%llu,\"down\":%llu,\"dropped\":%llu,\"duplicated\":%llu,\"reordered\":%llu,"
          "\"sent\":%llu,\"send_failures\":%llu,\"hellos\":%llu,\"refused_peers\":%llu}\n",
          static_cast<unsigned long long>(c.up), static_cast<unsigned long long>(c.down),
          static_cast<unsigned long long>(c.dropped), static_cast<unsigned long long>(c.duplicated),
          static_cast<unsigned long long>(c.reordered), static_cast<unsigned long long>(c.sent),
          static_cast<unsigned long long>(c.send_failures),
          static_cast<unsigned long long>(c.hellos),
          static_cast<unsigned long long>(c.refused_peers));
    } else {
      std::printf(
          "up %llu  down %llu  dropped %llu  duplicated %llu  reordered %llu  sent %llu\n",
          static_cast<unsigned long long>(c.up), static_cast<unsigned long long>(c.down),
          static_cast<unsigned long long>(c.dropped), static_cast<unsigned long long>(c.duplicated),
          static_cast<unsigned long long>(c.reordered), static_cast<unsigned long long>(c.sent));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "buddykv-relay: %s\n", e.what());
    return 1;
  }
  return 0;
}
