#include "buddy/kv/client/cluster_client.hpp"

#include <poll.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

#include "buddy/kv/wire/udp.hpp"

namespace buddy::kv {

namespace {
std::uint64_t steady_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}
}  // namespace

struct ClusterClient::Member {
  ServerAddress addr;
  std::unique_ptr<Client> c;
  wire::UdpSocket* udp = nullptr;  // the Client's transport, when it is a UDP socket
};

std::vector<ServerAddress> parse_server_list(const std::string& list) {
  std::vector<ServerAddress> out;
  std::size_t at = 0;
  while (at <= list.size() && !list.empty()) {
    const std::size_t comma = std::min(list.find(',', at), list.size());
    const std::string a = list.substr(at, comma - at);
    wire::parse_endpoint(a);  // throws a one-line reason
    out.push_back({static_cast<std::uint32_t>(out.size()), a});
    at = comma + 1;
  }
  if (out.size() > kServerIdSpace) {
    throw std::runtime_error("more than " + std::to_string(kServerIdSpace) + " servers");
  }
  return out;
}

ClusterClient::ClusterClient(ClusterConfig cfg) : cfg_(std::move(cfg)) {
  if (!cfg_.transport) {
    cfg_.transport = [] { return std::make_unique<wire::UdpSocket>(wire::Endpoint{0, 0}); };
  }
  if (cfg_.membership) {
    generation_ = cfg_.membership->generation();
    update(cfg_.membership->servers(), false);
  } else {
    if (cfg_.servers.empty()) throw std::runtime_error("no servers");
    update(cfg_.servers, true);
  }
}

ClusterClient::~ClusterClient() = default;

ClusterClient::Member* ClusterClient::member(std::uint32_t id) const {
  const auto it = std::lower_bound(members_.begin(), members_.end(), id,
                                   [](const auto& m, std::uint32_t v) { return m->addr.id < v; });
  return it != members_.end() && (*it)->addr.id == id ? it->get() : nullptr;
}

void ClusterClient::update(const std::vector<ServerAddress>& want, bool must_answer) {
  std::vector<std::unique_ptr<Member>> next;
  for (const ServerAddress& a : want) {
    if (a.id >= kServerIdSpace) continue;  // a registry entry no route can reach
    auto it = std::find_if(members_.begin(), members_.end(),
                           [&](const auto& m) { return m && m->addr == a; });
    if (it != members_.end()) {
      next.push_back(std::move(*it));
      continue;
    }
    auto m = std::make_unique<Member>();
    m->addr = a;
    ClientConfig cc = cfg_.client;
    cc.server = a.address;
    auto t = cfg_.transport();
    m->udp = dynamic_cast<wire::UdpSocket*>(t.get());
    try {
      m->c = std::make_unique<Client>(cc, std::move(t));
    } catch (const std::exception& e) {
      if (must_answer) throw;
      ++cc_.join_failures;
      continue;
    }
    ++cc_.joins;
    next.push_back(std::move(m));
  }
  // Whoever is not in the new list left: its requests in flight go to their keys' new owners.
  for (auto& m : members_) {
    if (!m) continue;
    ++cc_.leaves;
    const std::uint64_t now = steady_ns();
    for (Client::Abandoned& a : m->c->abandon()) reroute_.push_back({std::move(a), now});
    leaving_.push_back(std::move(m));
  }
  std::sort(next.begin(), next.end(),
            [](const auto& x, const auto& y) { return x->addr.id < y->addr.id; });
  next.erase(std::unique(next.begin(), next.end(),
                         [](const auto& x, const auto& y) { return x->addr.id == y->addr.id; }),
             next.end());
  members_ = std::move(next);
  std::vector<std::uint32_t> ids;
  for (const auto& m : members_) ids.push_back(m->addr.id);
  set_ = ServerSet(std::move(ids));
}

std::size_t ClusterClient::outstanding() const noexcept {
  std::size_t n = reroute_.size() + local_.size();
  for (const auto& m : members_) n += m->c->outstanding();
  for (const auto& m : leaving_) n += m->c->outstanding();
  return n;
}

ClientCounters ClusterClient::counters() const {
  ClientCounters c = gone_;
  for (const auto& m : members_) c += m->c->counters();
  for (const auto& m : leaving_) c += m->c->counters();
  return c;
}

bool ClusterClient::submit(wire::Opcode op, std::string_view key, std::string_view value,
                           std::uint64_t tag) {
  if (reroute_.empty() && !set_.empty()) {
    return member(set_.owner(wire::key_hash(key)))->c->submit(op, key, value, tag);
  }
  // Behind the requests of a server that left, or no server at all: wait here, in order.
  if (reroute_.size() >= cfg_.client.window) return false;
  reroute_.push_back({{op, tag, std::string(key), std::string(value)}, steady_ns()});
  return true;
}

void ClusterClient::send_held() {
  while (!reroute_.empty() && !set_.empty()) {
    const Client::Abandoned& a = reroute_.front().r;
    if (!member(set_.owner(wire::key_hash(a.key)))->c->submit(a.op, a.key, a.value, a.tag)) break;
    ++cc_.rerouted;
    reroute_.pop_front();
  }
  // With no server for so long, give up on them: they are reported timed out (never sent).
  const std::uint64_t now = steady_ns();
  const auto hold = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(cfg_.hold_without_servers).count());
  while (set_.empty() && !reroute_.empty() && now - reroute_.front().since_ns >= hold) {
    RoutedCompletion c;
    c.tag = reroute_.front().r.tag;
    c.op = reroute_.front().r.op;
    c.local = true;
    c.timed_out = true;
    local_.push_back(c);
    reroute_.pop_front();
  }
}

bool ClusterClient::submit_to(std::uint32_t id, wire::Opcode op, std::string_view key,
                              std::string_view value, std::uint64_t tag) {
  Member* m = member(id);
  return m != nullptr && m->c->submit(op, key, value, tag);
}

std::size_t ClusterClient::collect(std::span<RoutedCompletion> out) {
  std::size_t n = 0;
  while (n < out.size() && !local_.empty()) {
    out[n++] = local_.back();
    local_.pop_back();
  }
  auto take = [&](Member& m) {
    if (n == out.size()) return;
    buf_.resize(out.size() - n);
    const std::size_t got = m.c->poll(buf_, std::chrono::microseconds(0));
    for (std::size_t i = 0; i < got; ++i) {
      static_cast<Completion&>(out[n + i]) = buf_[i];
      out[n + i].server = m.addr.id;
    }
    n += got;
  };
  for (std::size_t k = 0; k < members_.size(); ++k) take(*members_[(next_ + k) % members_.size()]);
  next_ = members_.empty() ? 0 : (next_ + 1) % members_.size();
  for (auto& m : leaving_) take(*m);
  for (auto it = leaving_.begin(); it != leaving_.end();) {
    if ((*it)->c->outstanding() == 0) {
      gone_ += (*it)->c->counters();
      it = leaving_.erase(it);
    } else {
      ++it;
    }
  }
  return n;
}

void ClusterClient::wait_any(std::chrono::microseconds wait) {
  std::vector<pollfd> fds;
  for (const auto& m : members_) {
    if (m->udp == nullptr) {
      // Not a socket (the fake network in tests): a short sleep, then everyone is polled again.
      std::this_thread::sleep_for(std::min(wait, std::chrono::microseconds(50)));
      return;
    }
    fds.push_back({m->udp->fd(), POLLIN, 0});
  }
  for (const auto& m : leaving_) {
    if (m->udp != nullptr) fds.push_back({m->udp->fd(), POLLIN, 0});
  }
  if (fds.empty()) return;
  const timespec ts{static_cast<time_t>(wait.count() / 1'000'000),
                    static_cast<long>(wait.count() % 1'000'000) * 1000};
  ::ppoll(fds.data(), fds.size(), &ts, nullptr);
}

std::size_t ClusterClient::poll(std::span<RoutedCompletion> out, std::chrono::microseconds wait) {
  if (cfg_.membership) {
    if (const std::uint64_t g = cfg_.membership->generation(); g != generation_) {
      generation_ = g;
      update(cfg_.membership->servers(), false);
    }
  }
  send_held();
  if (members_.size() == 1 && leaving_.empty() && local_.empty() && reroute_.empty()) {
    // One server: its Client waits itself (one poll and receive, no ppoll over sockets).
    Member& m = *members_[0];
    buf_.resize(out.size());
    const std::size_t got = m.c->poll(buf_, wait);
    for (std::size_t i = 0; i < got; ++i) {
      static_cast<Completion&>(out[i]) = buf_[i];
      out[i].server = m.addr.id;
    }
    return got;
  }
  std::size_t n = collect(out);
  if (n == 0 && wait.count() > 0 && outstanding() > 0) {
    if (set_.empty() && leaving_.empty()) {
      std::this_thread::sleep_for(std::min(wait, std::chrono::microseconds(1000)));
    } else {
      wait_any(wait);
    }
    n = collect(out);
  }
  return n;
}

Client::Reply ClusterClient::call(wire::Opcode op, std::string_view key, std::string_view value) {
  if (outstanding() != 0) throw std::logic_error("blocking calls need an idle client");
  submit(op, key, value, 0);  // an idle client has room
  RoutedCompletion c;
  while (poll({&c, 1}, std::chrono::milliseconds(5)) == 0) {
  }
  Client::Reply r;
  r.status = c.status;
  r.timed_out = c.timed_out;
  r.value.assign(c.value);
  return r;
}

Client::Reply ClusterClient::get(std::string_view key) {
  return call(wire::Opcode::get, key, {});
}
Client::Reply ClusterClient::set(std::string_view key, std::string_view value) {
  return call(wire::Opcode::set, key, value);
}
Client::Reply ClusterClient::del(std::string_view key) {
  return call(wire::Opcode::del, key, {});
}

std::string ClusterClient::stats(std::uint32_t id) {
  Member* m = member(id);
  if (m == nullptr) throw std::runtime_error("no server with id " + std::to_string(id));
  return m->c->stats();
}

}  // namespace buddy::kv
