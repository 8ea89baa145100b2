// buddykv over many servers: one Client (client.hpp) per server, each key routed first to its
// server (route.hpp: jump consistent hashing over the servers' ids), then by that server's HELLO
// map to the port of its partition. The servers come from a static list (--servers A,B,C: ids
// 0, 1, 2, ... in list order) or from a Membership that changes (a registry,
// kv/registry/watcher.hpp): poll() follows it. A server that joins gets a Client (HELLO); one
// that leaves has its requests in flight taken back (Client::abandon) and sent to the keys' new
// owners, so nothing waits for a server that is gone (docs/kv-cluster.md).
//
//   buddy::kv::ClusterClient c({.servers = {{0, "127.0.0.1:7000"}, {1, "127.0.0.1:7100"}}});
//   c.set("k", "v");
//   auto r = c.get("k");                // r.status == ok, r.value == "v"
//   c.owner("k");                       // 0 or 1
//   c.submit(wire::Opcode::get, "k", {}, 7); c.poll(done, 1ms);   // done[i].server: who answered
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "buddy/kv/client/client.hpp"
#include "buddy/kv/client/route.hpp"

namespace buddy::kv {

struct ServerAddress {
  std::uint32_t id = 0;
  std::string address;  // the control (HELLO) address HOST:PORT
  friend bool operator==(const ServerAddress&, const ServerAddress&) = default;
};

// "A,B,C" -> ids 0, 1, 2. Empty on an empty list; throws std::runtime_error on a bad address.
std::vector<ServerAddress> parse_server_list(const std::string& list);

// A cluster's current servers, as something else (a registry watcher) keeps them.
class Membership {
 public:
  virtual ~Membership() = default;
  // Grows with every change of servers(); cheap (an atomic load), called on every poll().
  virtual std::uint64_t generation() const noexcept = 0;
  virtual std::vector<ServerAddress> servers() const = 0;
};

struct ClusterConfig {
  ClientConfig client;                     // every server's Client (its `server` is ignored)
  std::vector<ServerAddress> servers;      // a static cluster, or
  std::shared_ptr<Membership> membership;  // one that changes (then `servers` is ignored)
  // Each server's Client sends from its own transport (default: a UDP socket, ephemeral port).
  std::function<std::unique_ptr<wire::BurstTransport>()> transport;
  // While no server is known (a registry between a lease's expiry and the server's return),
  // requests wait in the client this long, then are reported timed out.
  std::chrono::milliseconds hold_without_servers{5000};
};

struct RoutedCompletion : Completion {
  std::uint32_t server = 0;  // the id of the server that answered (or was to)
};

struct ClusterCounters {
  std::uint64_t joins = 0;          // servers that got a Client (the first ones included)
  std::uint64_t leaves = 0;         // servers that left the membership
  std::uint64_t join_failures = 0;  // servers listed whose HELLO got no answer
  std::uint64_t rerouted = 0;       // sent after waiting in the client (their server left, or none)
};

class ClusterClient {
 public:
  // A static list: every server must answer HELLO (else std::runtime_error, one line).
  // A membership: the servers that answer HELLO now; the others are tried at its next change.
  explicit ClusterClient(ClusterConfig cfg);
  ~ClusterClient();
  ClusterClient(const ClusterClient&) = delete;
  ClusterClient& operator=(const ClusterClient&) = delete;

  const ServerSet& servers() const noexcept { return set_; }
  // The id of the server a key goes to now (the set must not be empty).
  std::uint32_t owner(std::string_view key) const { return set_.owner(wire::key_hash(key)); }
  std::size_t outstanding() const noexcept;
  ClientCounters counters() const;  // every server's Client, those that left included
  const ClusterCounters& cluster_counters() const noexcept { return cc_; }

  // As Client::submit, to the key's owner (false: that server's window is full, poll() first).
  // With no server at all, or behind the requests of a server that left, the request waits in
  // the client (false when a window of them waits already) and is sent by a later poll().
  bool submit(wire::Opcode op, std::string_view key, std::string_view value, std::uint64_t tag);
  // To server `id` whatever the route says (false also when there is no such server now).
  bool submit_to(std::uint32_t id, wire::Opcode op, std::string_view key, std::string_view value,
                 std::uint64_t tag);
  // Follows the membership, then as Client::poll over every server, waiting up to `wait` for the
  // first answer from any of them. Values are valid until the next poll().
  std::size_t poll(std::span<RoutedCompletion> out, std::chrono::microseconds wait);

  // Blocking helpers, only when nothing is outstanding.
  Client::Reply get(std::string_view key);
  Client::Reply set(std::string_view key, std::string_view value);
  Client::Reply del(std::string_view key);
  std::string stats(std::uint32_t id);  // that server's STATS

 private:
  struct Member;
  void update(const std::vector<ServerAddress>& want, bool must_answer);
  Member* member(std::uint32_t id) const;
  void send_held();  // the waiting requests, to their owners; gives up after hold_without_servers
  std::size_t collect(std::span<RoutedCompletion> out);
  void wait_any(std::chrono::microseconds wait);
  Client::Reply call(wire::Opcode op, std::string_view key, std::string_view value);

  ClusterConfig cfg_;
  std::vector<std::unique_ptr<Member>> members_;  // live, by ascending id
  std::vector<std::unique_ptr<Member>> leaving_;  // left: polled until their answers are out
  ServerSet set_;
  std::uint64_t generation_ = 0;
  struct Held {
    Client::Abandoned r;
    std::uint64_t since_ns;
  };
  std::deque<Held> reroute_;             // waiting for an owner, or for room at it, in order
  std::vector<RoutedCompletion> local_;  // answered here (no server)
  std::vector<Completion> buf_;
  std::size_t next_ = 0;  // the member polled first (round robin)
  ClientCounters gone_;   // counters of the Clients destroyed
  ClusterCounters cc_;
};

}  // namespace buddy::kv
