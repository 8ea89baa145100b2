// map<K, V>: a distributed hash map; key k lives on rank owner(k) (hash_partitioner). Every
// async_* call sends one message to the owner (also when that is this rank) and returns at once;
// the operation has run on the owner when the next barrier() returns.
//
//   buddy::msg::containers::map<std::string, std::uint64_t> m(world);   // collective
//   m.async_insert("a", 1);                                            // insert if absent
//   m.async_reduce("a", 5, [](std::uint64_t x, std::uint64_t y) { return x + y; });
//   m.async_visit("a", [](const std::string& k, std::uint64_t& v, int d) { v += d; }, 2);
//   world.barrier();
//   m.for_all([](const std::string& k, std::uint64_t v) { /* this rank's entries */ });
//
// Functions sent to the owner (visit, reduce) follow comm::async's rules: trivially copyable,
// values only (checked), called as fn(key, value, args...) or fn(comm&, key, value, args...),
// with the value by reference. They may call async (and so visit any container) but see no
// other handler run while they run. Keys and values use the archive's types (archive.hpp).
// Collectives (for_all, size, clear, gather, topk, the constructor and destructor) are called
// by every rank and throw buddy::msg::error inside a handler; for_all's callback runs under a
// comm::handler_hold, so messages it sends (to this map too) cannot change the entries it walks.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "buddy/msg/containers/detail/container_base.hpp"
#include "buddy/msg/containers/partitioner.hpp"

namespace buddy::msg::containers {

namespace detail {
template <class K, class V, class P>
struct map_state {
  map_state(V d, P p) : default_value(std::move(d)), part(std::move(p)) {}
  std::unordered_map<K, V, local_hash<K>> local;
  V default_value;
  P part;
  std::vector<std::pair<K, V>> collected;  // gather / topk
};

// The default order of topk: larger value first, then smaller key.
struct larger_value {
  template <class Pair>
  bool operator()(const Pair& a, const Pair& b) const {
    if (b.second < a.second) return true;
    if (a.second < b.second) return false;
    return a.first < b.first;
  }
};

// The n best of `items` by `better`, in that order.
template <class T, class Better>
void keep_best(std::vector<T>& items, std::size_t n, const Better& better) {
  if (items.size() > n) {
    std::partial_sort(items.begin(), items.begin() + static_cast<std::ptrdiff_t>(n), items.end(),
                      better);
    items.resize(n);
  } else {
    std::sort(items.begin(), items.end(), better);
  }
}
}  // namespace detail

template <class K, class V, class Partitioner = hash_partitioner<K>>
class map
    : public detail::container_base<detail::map_state<K, V, Partitioner>, map<K, V, Partitioner>> {
  using state = detail::map_state<K, V, Partitioner>;
  using base = detail::container_base<state, map<K, V, Partitioner>>;
  friend base;
  using base::c_;
  using base::h_;
  using base::s_;

 public:
  using key_type = K;
  using mapped_type = V;

  // Collective. default_value is what async_visit and async_reduce start from for a new key.
  explicit map(comm& c, V default_value = V{}, Partitioner p = {})
      : base(c, "map", std::move(default_value), std::move(p)) {}

  int owner(const K& k) const { return s_->part.owner(k, c_.size()); }

  // Inserts (k, v) unless k is there.
  void async_insert(const K& k, const V& v) {
    c_.async(
        owner(k), [h = h_](const K& key, const V& val) { h->local.try_emplace(key, val); }, k, v);
  }
  void async_insert_or_assign(const K& k, const V& v) {
    c_.async(
        owner(k), [h = h_](const K& key, const V& val) { h->local.insert_or_assign(key, val); }, k,
        v);
  }
  void async_erase(const K& k) {
    c_.async(
        owner(k), [h = h_](const K& key) { h->local.erase(key); }, k);
  }
  // fn(key, value&, args...) on the owner; a missing key is inserted with the default value.
  template <class Fn, class... Args>
  void async_visit(const K& k, const Fn& fn, const Args&... args) {
    detail::check_function<Fn>();
    c_.async(
        owner(k),
        [h = h_, fn](comm& c, const K& key, const Args&... a) {
          state& s = *h;
          auto it = s.local.try_emplace(key, s.default_value).first;
          detail::invoke_user(c, fn, it->first, it->second, a...);
        },
        k, args...);
  }
  // Like async_visit, but only if the key is there.
  template <class Fn, class... Args>
  void async_visit_if_contains(const K& k, const Fn& fn, const Args&... args) {
    detail::check_function<Fn>();
    c_.async(
        owner(k),
        [h = h_, fn](comm& c, const K& key, const Args&... a) {
          state& s = *h;
          const auto it = s.local.find(key);
          if (it != s.local.end()) detail::invoke_user(c, fn, it->first, it->second, a...);
        },
        k, args...);
  }
  // value = op(value, v) on the owner (value = v for a new key).
  template <class Op>
  void async_reduce(const K& k, const V& v, const Op& op) {
    detail::check_function<Op>();
    c_.async(
        owner(k),
        [h = h_, op](const K& key, const V& val) {
          auto [it, fresh] = h->local.try_emplace(key, val);
          if (!fresh) it->second = op(it->second, val);
        },
        k, v);
  }

  // This rank's entries (no communication). fn(key, value&) under a handler_hold.
  template <class Fn>
  void local_for_all(const Fn& fn) {
    const comm::handler_hold hold(c_);
    for (auto& [k, v] : s_->local) detail::invoke_user(c_, fn, k, v);
  }
  std::size_t local_size() const { return s_->local.size(); }
  // The owner's value, if k is on this rank.
  const V* local_find(const K& k) const {
    const auto it = s_->local.find(k);
    return it == s_->local.end() ? nullptr : &it->second;
  }

  // Collective: every entry, on rank root (in no particular order); other ranks get nothing.
  std::vector<std::pair<K, V>> gather(int root = 0) {
    this->collective("gather");
    c_.barrier();
    {
      const comm::handler_hold hold(c_);
      for (const auto& [k, v] : s_->local) {
        c_.async(
            root, [h = h_](const K& key, const V& val) { h->collected.emplace_back(key, val); }, k,
            v);
      }
    }
    c_.barrier();
    return std::exchange(s_->collected, {});
  }
  // Collective: the n best entries on every rank, best first (default: largest value, ties
  // broken by the smaller key; needs operator< on K and V). better(a, b) on pair<K, V>.
  template <class Better = detail::larger_value>
  std::vector<std::pair<K, V>> topk(std::size_t n, const Better& better = {}) {
    this->collective("topk");
    c_.barrier();
    std::vector<std::pair<K, V>> mine(s_->local.begin(), s_->local.end());
    detail::keep_best(mine, n, better);
    c_.async_bcast(
        [h = h_](const std::vector<std::pair<K, V>>& part) {
          h->collected.insert(h->collected.end(), part.begin(), part.end());
        },
        mine);
    c_.barrier();
    std::vector<std::pair<K, V>> all = std::exchange(s_->collected, {});
    detail::keep_best(all, n, better);
    return all;
  }

 private:
  void local_clear() { s_->local.clear(); }
};

}  // namespace buddy::msg::containers
