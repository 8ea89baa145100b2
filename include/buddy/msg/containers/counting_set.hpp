// counting_set<K>: how often each key was inserted, over all ranks. async_insert(k) only counts
// into a small cache on this rank (at most cache_keys distinct keys); the cache is sent to the
// keys' owners, one message per distinct key with its count, when it is full and at the start of
// every barrier (a comm pre-barrier hook, as YGM does), so after barrier() every insert sent
// before it is counted at the owner. Frequent keys thus cost one message per cache flush, not
// one per insert. Collectives: for_all, size (distinct keys), total (sum of counts), clear,
// gather, topk (see map.hpp).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "buddy/msg/containers/detail/container_base.hpp"
#include "buddy/msg/containers/map.hpp"
#include "buddy/msg/containers/partitioner.hpp"

namespace buddy::msg::containers {

namespace detail {
template <class K, class P>
struct counting_state {
  counting_state(P p, std::size_t keys) : part(std::move(p)), cache_keys(keys) {}
  std::unordered_map<K, std::uint64_t, local_hash<K>> local;  // counts of the keys owned here
  std::unordered_map<K, std::uint64_t, local_hash<K>> cache;  // this rank's inserts not yet sent
  P part;
  std::size_t cache_keys;
  std::vector<std::pair<K, std::uint64_t>> collected;
  std::uint64_t flushes = 0;
};
}  // namespace detail

template <class K, class Partitioner = hash_partitioner<K>>
class counting_set : public detail::container_base<detail::counting_state<K, Partitioner>,
                                                   counting_set<K, Partitioner>> {
  using state = detail::counting_state<K, Partitioner>;
  using base = detail::container_base<state, counting_set<K, Partitioner>>;
  friend base;
  using base::c_;
  using base::h_;
  using base::s_;

 public:
  using key_type = K;
  static constexpr std::size_t default_cache_keys = 8192;

  // Collective. cache_keys 0: no cache, one message per insert.
  explicit counting_set(comm& c, std::size_t cache_keys = default_cache_keys, Partitioner p = {})
      : base(c, "counting_set", std::move(p), cache_keys) {
    hook_ = c_.add_pre_barrier([this] { flush(); });
  }
  ~counting_set() { c_.remove_pre_barrier(hook_); }

  int owner(const K& k) const { return s_->part.owner(k, c_.size()); }

  // Counts k once (safe from a handler, this set's own included).
  void async_insert(const K& k) { async_insert(k, 1); }
  void async_insert(const K& k, std::uint64_t n) {
    state& s = *s_;
    if (s.cache_keys == 0) {
      send(k, n);
      return;
    }
    auto [it, fresh] = s.cache.try_emplace(k, n);
    if (!fresh) {
      it->second += n;
    } else if (s.cache.size() >= s.cache_keys) {
      flush();
    }
  }
  // Sends the cache to the owners now (barrier() does it too).
  void flush() {
    state& s = *s_;
    if (s.cache.empty()) return;
    ++s.flushes;
    // No handler runs while the cache is walked (one could insert into it); the table's
    // buckets are kept for the next round.
    {
      const comm::handler_hold hold(c_);
      for (const auto& [k, n] : s.cache) send(k, n);
    }
    s.cache.clear();
  }
  std::uint64_t flushes() const { return s_->flushes; }

  // The count of k if this rank owns k (0 if never inserted).
  std::uint64_t local_count(const K& k) const {
    const auto it = s_->local.find(k);
    return it == s_->local.end() ? 0 : it->second;
  }
  std::size_t local_size() const { return s_->local.size(); }
  template <class Fn>
  void local_for_all(const Fn& fn) {
    const comm::handler_hold hold(c_);
    for (const auto& [k, n] : s_->local) detail::invoke_user(c_, fn, k, n);
  }

  // Collective: the sum of every count (the number of inserts).
  std::uint64_t total() {
    this->collective("total");
    c_.barrier();
    std::uint64_t t = 0;
    for (const auto& [k, n] : s_->local) t += n;
    return c_.all_reduce_sum(t);
  }
  std::vector<std::pair<K, std::uint64_t>> gather(int root = 0) {
    this->collective("gather");
    c_.barrier();
    {
      const comm::handler_hold hold(c_);
      for (const auto& [k, n] : s_->local) {
        c_.async(
            root,
            [h = h_](const K& key, std::uint64_t count) { h->collected.emplace_back(key, count); },
            k, n);
      }
    }
    c_.barrier();
    return std::exchange(s_->collected, {});
  }
  // Collective: the n most frequent keys on every rank (ties: smaller key first).
  std::vector<std::pair<K, std::uint64_t>> topk(std::size_t n) {
    this->collective("topk");
    c_.barrier();
    std::vector<std::pair<K, std::uint64_t>> mine(s_->local.begin(), s_->local.end());
    const detail::larger_value better;
    detail::keep_best(mine, n, better);
    c_.async_bcast(
        [h = h_](const std::vector<std::pair<K, std::uint64_t>>& part) {
          h->collected.insert(h->collected.end(), part.begin(), part.end());
        },
        mine);
    c_.barrier();
    auto all = std::exchange(s_->collected, {});
    detail::keep_best(all, n, better);
    return all;
  }

 private:
  void send(const K& k, std::uint64_t n) {
    c_.async(
        owner(k), [h = h_](const K& key, std::uint64_t count) { h->local[key] += count; }, k, n);
  }
  std::uint64_t hook_ = 0;
  void local_clear() { s_->local.clear(); }
};

}  // namespace buddy::msg::containers
