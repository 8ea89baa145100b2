#include "buddy/kv/registry/watcher.hpp"

#include <algorithm>
#include <stdexcept>

#include "buddy/kv/registry/registrar.hpp"

namespace buddy::kv::registry {

Watcher::Watcher(const RegistryUrl& url, std::chrono::milliseconds period)
    : etcd_(url), period_(period) {
  if (std::string e = read(); !e.empty()) throw std::runtime_error(e);
  thread_ = std::thread([this] { loop(); });
}

Watcher::~Watcher() {
  {
    std::lock_guard<std::mutex> l(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::vector<ServerRecord> Watcher::servers() const {
  std::lock_guard<std::mutex> l(mu_);
  return servers_;
}

std::int64_t Watcher::revision() const {
  std::lock_guard<std::mutex> l(mu_);
  return revision_;
}

std::string Watcher::status() const {
  std::lock_guard<std::mutex> l(mu_);
  return status_;
}

std::string Watcher::read() {
  std::vector<Etcd::Kv> kvs;
  std::int64_t rev = 0;
  std::string err = etcd_.range_prefix(etcd_.url().servers_prefix(), kvs, rev);
  std::lock_guard<std::mutex> l(mu_);
  if (!err.empty()) {
    if (status_ == "ok") status_ = "unreachable since " + utc_now() + ": " + err;
    return err;
  }
  status_ = "ok";
  revision_ = rev;
  std::vector<std::string> raw;
  for (const auto& kv : kvs) raw.push_back(kv.key + '\n' + kv.value);
  if (raw == raw_) return {};
  std::vector<ServerRecord> recs;
  for (const auto& kv : kvs) {
    auto r = parse_record(kv.value);
    if (r && etcd_.url().key_of(r->id) == kv.key) recs.push_back(std::move(*r));
  }
  std::sort(recs.begin(), recs.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  servers_ = std::move(recs);
  raw_ = std::move(raw);
  gen_.fetch_add(1, std::memory_order_release);
  return {};
}

void Watcher::loop() {
  std::unique_lock<std::mutex> l(mu_);
  while (!cv_.wait_for(l, period_, [this] { return stop_; })) {
    l.unlock();
    read();
    l.lock();
  }
}

}  // namespace buddy::kv::registry
