// buddykv-bench's target over many servers (--servers A,B,C or --registry etcd://...): the
// ClusterClient, one per bench thread, all following one membership. Each answer names the
// server that gave it (Done::server = id + 1), which --verify needs once keys change owners.
#pragma once

#include <memory>
#include <vector>

#include "buddy/kv/client/cluster_client.hpp"
#include "buddykv_target.hpp"
#include "target.hpp"

namespace buddy::bench {

class ClusterTarget final : public Target {
 public:
  explicit ClusterTarget(kv::ClusterConfig cfg) : c_(std::move(cfg)) {}

  bool submit(OpKind op, std::string_view key, std::string_view value, std::uint64_t tag) override {
    return c_.submit(op == OpKind::get ? kv::wire::Opcode::get : kv::wire::Opcode::set, key, value,
                     tag);
  }
  // To server `id` whatever the route says (the read-back of --verify).
  bool submit_to(std::uint32_t id, std::string_view key, std::uint64_t tag) {
    return c_.submit_to(id, kv::wire::Opcode::get, key, {}, tag);
  }
  std::size_t poll(std::span<Done> out, std::chrono::microseconds wait) override {
    buf_.resize(out.size());
    const std::size_t n = c_.poll(buf_, wait);
    for (std::size_t i = 0; i < n; ++i) {
      to_done(buf_[i], out[i]);
      out[i].server = buf_[i].server + 1;
    }
    return n;
  }
  std::size_t outstanding() const override { return c_.outstanding(); }
  TargetCounters counters() const override {
    const auto k = c_.counters();
    return {k.retries, k.timeouts, k.stale, k.spurious, k.pings};
  }
  kv::ClusterClient& client() noexcept { return c_; }

 private:
  kv::ClusterClient c_;
  std::vector<kv::RoutedCompletion> buf_;
};

}  // namespace buddy::bench
