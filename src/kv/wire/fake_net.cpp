#include "buddy/kv/wire/fake_net.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace buddy::kv::wire {

namespace {
constexpr std::uint32_t kLoopback = 0x7f000001;
}

class FakePort final : public BurstTransport {
 public:
  FakePort(FakeNetwork& net, std::uint16_t port) : net_(net), port_(port) {}
  ~FakePort() override { net_.close(port_); }

  std::size_t recv_burst(std::span<Datagram> out, std::chrono::microseconds wait) override {
    return net_.receive(port_, out, wait);
  }
  std::size_t send_burst(std::span<const Datagram> dgrams) override {
    for (const Datagram& d : dgrams) net_.deliver(local(), d);
    return dgrams.size();
  }
  Endpoint local() const override { return Endpoint{kLoopback, port_}; }

 private:
  FakeNetwork& net_;
  std::uint16_t port_;
};

std::unique_ptr<BurstTransport> FakeNetwork::bind(std::uint16_t port) {
  std::lock_guard lk(mu_);
  if (port == 0) {
    while (queues_.count(next_port_) != 0) ++next_port_;
    port = next_port_++;
  }
  if (queues_.count(port) != 0) {
    throw std::runtime_error("fake port " + std::to_string(port) + " is in use");
  }
  queues_[port] = std::make_unique<Queue>();
  return std::make_unique<FakePort>(*this, port);
}

void FakeNetwork::deliver(const Endpoint& from, const Datagram& d) {
  std::lock_guard lk(mu_);
  auto it = queues_.find(d.peer.port);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  if (it == queues_.end() || d.peer.ip != kLoopback || u(rng_) < faults_.loss) {
    ++lost_;
    return;
  }
  Queue& q = *it->second;
  const int copies = u(rng_) < faults_.duplicate ? 2 : 1;
  for (int c = 0; c < copies; ++c) {
    std::vector<std::byte> bytes(d.data, d.data + d.size);
    if (!q.data.empty() && u(rng_) < faults_.reorder) {
      q.data.insert(q.data.end() - 1, std::move(bytes));
      q.from.insert(q.from.end() - 1, from);
    } else {
      q.data.push_back(std::move(bytes));
      q.from.push_back(from);
    }
    ++delivered_;
  }
  q.cv.notify_one();
}

std::size_t FakeNetwork::receive(std::uint16_t port, std::span<Datagram> out,
                                 std::chrono::microseconds wait) {
  std::unique_lock lk(mu_);
  Queue& q = *queues_.at(port);
  if (q.data.empty() && wait.count() > 0) {
    q.cv.wait_for(lk, wait, [&] { return !q.data.empty(); });
  }
  std::size_t n = 0;
  while (n < out.size() && !q.data.empty()) {
    Datagram& d = out[n++];
    const auto& bytes = q.data.front();
    const std::size_t len = std::min<std::size_t>(bytes.size(), d.capacity);
    std::memcpy(d.data, bytes.data(), len);
    d.size = bytes.size() > d.capacity ? d.capacity + 1 : static_cast<std::uint32_t>(len);
    d.peer = q.from.front();
    q.data.pop_front();
    q.from.pop_front();
  }
  return n;
}

void FakeNetwork::close(std::uint16_t port) {
  std::lock_guard lk(mu_);
  queues_.erase(port);
}

std::uint64_t FakeNetwork::delivered() const {
  std::lock_guard lk(mu_);
  return delivered_;
}

std::uint64_t FakeNetwork::lost() const {
  std::lock_guard lk(mu_);
  return lost_;
}

}  // namespace buddy::kv::wire
