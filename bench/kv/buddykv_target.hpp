// buddykv-bench's buddykv target: the client library, one per bench thread.
#pragma once

#include <memory>
#include <vector>

#include "buddy/kv/client/client.hpp"
#include "target.hpp"

namespace buddy::bench {

// A client library completion as the bench loop sees it, written into d field by field (a Done
// built on the stack and copied costs a store-forwarding stall per answer).
inline void to_done(const kv::Completion& c, Done& d) {
  d.tag = c.tag;
  d.op = c.op == kv::wire::Opcode::get ? OpKind::get : OpKind::set;
  d.retried = c.retries > 0;
  d.latency_ns = c.latency_ns;
  d.value = c.value;
  d.detail = c.timed_out ? "timeout" : kv::wire::to_string(c.status);
  d.outcome = c.timed_out                               ? Outcome::timeout
              : c.status == kv::wire::Status::ok        ? Outcome::ok
              : c.status == kv::wire::Status::not_found ? Outcome::not_found
                                                        : Outcome::error;
  d.server = 0;
}

class BuddykvTarget final : public Target {
 public:
  explicit BuddykvTarget(const kv::ClientConfig& cfg) : c_(cfg) {}

  bool submit(OpKind op, std::string_view key, std::string_view value, std::uint64_t tag) override {
    return c_.submit(op == OpKind::get ? kv::wire::Opcode::get : kv::wire::Opcode::set, key, value,
                     tag);
  }
  std::size_t poll(std::span<Done> out, std::chrono::microseconds wait) override {
    buf_.resize(out.size());
    const std::size_t n = c_.poll(buf_, wait);
    for (std::size_t i = 0; i < n; ++i) to_done(buf_[i], out[i]);
    return n;
  }
  std::size_t outstanding() const override { return c_.outstanding(); }
  TargetCounters counters() const override {
    const auto& k = c_.counters();
    return {k.retries, k.timeouts, k.stale, k.spurious, k.pings};
  }

 private:
  kv::Client c_;
  std::vector<kv::Completion> buf_;
};

}  // namespace buddy::bench
