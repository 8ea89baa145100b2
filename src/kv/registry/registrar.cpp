#include "buddy/kv/registry/registrar.hpp"

#include <chrono>
#include <ctime>
#include <stdexcept>

namespace buddy::kv::registry {

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

Registrar::Registrar(const RegistryUrl& url, ServerRecord rec, bool auto_id, std::int64_t ttl_s)
    : etcd_(url), rec_(std::move(rec)), ttl_s_(ttl_s) {
  if (std::string e = etcd_.grant(ttl_s_, lease_); !e.empty()) throw std::runtime_error(e);
  for (std::uint32_t id = auto_id ? 0 : rec_.id;; ++id) {
    if (id >= 1024) throw std::runtime_error("no free server id under " + url.text());
    rec_.id = id;
    key_ = url.key_of(id);
    bool created = false;
    if (std::string e = etcd_.create(key_, to_json(rec_), lease_, created); !e.empty()) {
      throw std::runtime_error(e);
    }
    if (created) break;
    if (!auto_id) {
      etcd_.revoke(lease_);
      throw std::runtime_error("server id " + std::to_string(id) + " is already registered at " +
                               url.text() + " (a live server holds it; pick another --id)");
    }
  }
  thread_ = std::thread([this] { keepalive_loop(); });
}

Registrar::~Registrar() {
  stop();
}

std::string Registrar::status() const {
  std::lock_guard<std::mutex> l(mu_);
  return status_;
}

void Registrar::set_engine(const std::string& state, std::uint32_t epoch) {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (rec_.engine == state && rec_.engine_epoch == epoch) return;
    rec_.engine = state;
    rec_.engine_epoch = epoch;
    dirty_ = true;
  }
  cv_.notify_all();
}

ServerRecord Registrar::record() const {
  std::lock_guard<std::mutex> l(mu_);
  return rec_;
}

std::string Registrar::register_once() {
  std::int64_t lease = 0;
  if (std::string e = etcd_.grant(ttl_s_, lease); !e.empty()) return e;
  if (std::string e = etcd_.put(key_, to_json(record()), lease); !e.empty()) return e;
  lease_ = lease;
  return {};
}

void Registrar::keepalive_loop() {
  // Every etcd call is made here, one at a time: the renewals every ttl/3, and a put of the record
  // as soon as set_engine() changed it (retried at each renewal while etcd does not take it).
  const auto period = std::chrono::milliseconds(ttl_s_ * 1000 / 3);
  auto next = std::chrono::steady_clock::now() + period;
  bool put_pending = false;
  std::unique_lock<std::mutex> l(mu_);
  for (;;) {
    cv_.wait_until(l, next, [this] { return stop_ || dirty_; });
    if (stop_) break;
    const bool renew = std::chrono::steady_clock::now() >= next;
    if (dirty_) put_pending = true;
    if (!renew && !dirty_) continue;
    dirty_ = false;
    const std::string json = to_json(rec_);
    l.unlock();
    std::string err;
    if (renew) {
      std::int64_t ttl = 0;
      err = etcd_.keepalive(lease_, ttl);
      if (err.empty() && ttl == 0) {
        err = register_once();  // expired while etcd was away: the record goes with the new lease
        if (err.empty()) put_pending = false;
      }
    }
    if (err.empty() && put_pending) {
      err = etcd_.put(key_, json, lease_);
      if (err.empty()) put_pending = false;
    }
    l.lock();
    if (renew) next = std::chrono::steady_clock::now() + period;
    if (err.empty()) {
      status_ = "ok";
    } else if (status_ == "ok") {
      status_ = "unreachable since " + utc_now() + ": " + err;
    }
  }
}

void Registrar::stop() {
  {
    std::lock_guard<std::mutex> l(mu_);
    if (stop_) return;
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  etcd_.del(key_);  // best effort: when etcd is gone, the lease expiry removes the record
  etcd_.revoke(lease_);
}

}  // namespace buddy::kv::registry
