#include "buddy/kv/serving/side.hpp"

#include <stdexcept>
#include <string>

namespace buddy::kv::serving {

using namespace queue;

std::optional<kv::StoreConfig> side_store_config(const Placement& p, Side s,
                                                 const StoreSettings& st) {
  std::vector<std::uint32_t> held = p.partitions_on(s);
  if (held.empty()) return std::nullopt;
  kv::StoreConfig sc;
  sc.mode = st.mode;
  sc.memory_bytes = st.memory_bytes;
  sc.prefault = true;  // a serving store never page-faults on a first write (docs/store.md)
  sc.partitions = p.partitions;
  sc.expected_items = st.expected_items;
  if (held.size() != p.partitions) sc.only = std::move(held);
  return sc;
}

std::unique_ptr<Store> make_side_store(const Placement& p, Side s, const StoreSettings& st) {
  const auto sc = side_store_config(p, s, st);
  return sc ? std::make_unique<Store>(*sc) : nullptr;
}

namespace {

// A CE accepts from clients exactly the partitions its port serves.
CommEngine comm_engine(const Placement& p, const ThreadPlan& t, std::size_t max_datagram) {
  Ownership own;
  own.partitions = p.partitions;
  own.mine.assign(p.partitions, false);
  for (std::uint32_t q : t.partitions) own.mine[q] = true;
  return CommEngine(std::move(own), max_datagram);
}

Store& store_of(const SideResources& r, const ThreadPlan& t) {
  if (r.store == nullptr) {
    throw std::runtime_error(std::string("a ") + to_string(t.side) + " " + to_string(t.role) +
                             " thread owns partitions but its side has no store");
  }
  return *r.store;
}

KvQueue& queue_of(const SideResources& r, const ThreadPlan& t) {
  if (r.queue == nullptr) {
    throw std::runtime_error(std::string("a ") + to_string(t.role) +
                             " thread needs queue pairs but there is no segment");
  }
  return *r.queue;
}

// The pair whose request bell the PE serving `pair` sleeps on: its first pair (KvQueue).
std::uint32_t pe_bell_pair(const Placement& p, std::uint32_t pair) {
  for (const ThreadPlan& t : p.threads) {
    if (t.role != Role::pe) continue;
    for (std::uint32_t q : t.pairs) {
      if (q == pair) return t.pairs.front();
    }
  }
  throw std::runtime_error("queue pair " + std::to_string(pair) + " has no PE in the placement");
}

}  // namespace

ServingThread::ServingThread(const Placement& p, const ThreadPlan& plan, std::size_t k,
                             const SideResources& r, bool link)
    : plan_(plan), shared_(r.counters ? &r.counters(k) : &own_) {
  if (plan_.role != Role::pe) {
    if (!r.factory) throw std::runtime_error("no transport factory for the serving ports");
    transport_ = r.factory(k < r.ports.size() ? r.ports[k] : 0);
    if (link) {
      auto linked = std::make_unique<wire::LinkedTransport>(std::move(transport_));
      link_ = linked.get();
      transport_ = std::move(linked);
    }
  }
  switch (plan_.role) {
    case Role::full:
      full_ = std::make_unique<FullWorker>(*transport_, comm_engine(p, plan_, r.max_datagram),
                                           ProcessingEngine(store_of(r, plan_), plan_.partitions),
                                           *shared_, r.worker);
      break;
    case Role::ce:
      ce_ = std::make_unique<CeWorker>(
          *transport_, comm_engine(p, plan_, r.max_datagram),
          queue_of(r, plan_).ce(static_cast<std::uint32_t>(plan_.pair)), *shared_, r.worker);
      ce_->use_doorbells(
          &queue_of(r, plan_).request_bell(pe_bell_pair(p, static_cast<std::uint32_t>(plan_.pair))),
          &queue_of(r, plan_).response_bell(static_cast<std::uint32_t>(plan_.pair)));
      break;
    case Role::pe: {
      std::vector<KvPeEnd> ends;
      for (std::uint32_t q : plan_.pairs) ends.push_back(queue_of(r, plan_).pe(q));
      pe_ = std::make_unique<PeWorker>(ProcessingEngine(store_of(r, plan_), plan_.partitions),
                                       std::move(ends), *shared_, r.worker);
      if (r.queue_epoch != nullptr) pe_->follow_epoch(r.queue_epoch, r.queue, plan_.pairs);
      if (!plan_.pairs.empty()) {
        std::vector<qp::Doorbell*> ring;
        for (std::uint32_t q : plan_.pairs) ring.push_back(&queue_of(r, plan_).response_bell(q));
        pe_->use_doorbells(&queue_of(r, plan_).request_bell(plan_.pairs.front()), std::move(ring));
      }
      break;
    }
  }
}

std::uint16_t ServingThread::port() const noexcept {
  return transport_ ? transport_->local().port : 0;
}

bool ServingThread::step(std::chrono::microseconds wait) {
  // The time since the worker's last step was the host loop's, not the worker's.
  if (full_) {
    full_->resume_clock();
    return full_->step(wait);
  }
  if (ce_) {
    ce_->resume_clock();
    return ce_->step(wait);
  }
  return false;
}

void ServingThread::start(const std::atomic<bool>& stop) {
  thread_.start(plan_.cpu, [this, &stop] {
    if (hosted_) {
      hosted_(stop);
    } else if (full_) {
      full_->run(stop);
    } else if (ce_) {
      ce_->run(stop);
    } else {
      pe_->run(stop);
    }
  });
}

ServingSide::ServingSide(const Placement& p, Side side, const SideResources& r) : side_(side) {
  bool link = r.link_first;
  for (const ThreadPlan& t : p.threads) {
    if (t.side != side) continue;
    const bool this_link = link && t.role != Role::pe;
    if (this_link) link = false;
    threads_.push_back(std::make_unique<ServingThread>(p, t, threads_.size(), r, this_link));
  }
}

ServingThread* ServingSide::linked() noexcept {
  for (auto& t : threads_) {
    if (t->link() != nullptr) return t.get();
  }
  return nullptr;
}

void ServingSide::start() {
  for (auto& t : threads_) t->start(stop_);
}

void ServingSide::stop() {
  stop_.store(true);
  for (auto& t : threads_) t->wake();  // a PE asleep on its doorbell sleeps without a timeout
  for (auto& t : threads_) t->join();
}

bool ServingSide::queues_at(std::uint32_t e) const noexcept {
  bool at = true;
  for (const auto& t : threads_) {
    if (t->queue_epoch(e) != e) {
      t->wake();  // it may sleep on its doorbell: the epoch change is seen between two steps
      at = false;
    }
  }
  return at;
}

double ServingSide::cpu_s() const noexcept {
  double s = 0;
  for (const auto& t : threads_) s += t->cpu_s();
  return s;
}

}  // namespace buddy::kv::serving
