// set<K>: a distributed hash set; key k lives on rank owner(k). async_* calls send one message
// to the owner and return; they have run when the next barrier() returns. Reply callbacks run
// on the owner, as fn(bool, key, args...) or fn(comm&, bool, key, args...), under comm::async's
// rules (trivially copyable, values only; to answer the asking rank, pass its rank as an
// argument and async() back). Collectives: for_all, size, clear, gather (see map.hpp).
#pragma once

#include <cstdint>
#include <unordered_set>
#include <utility>
#include <vector>

#include "buddy/msg/containers/detail/container_base.hpp"
#include "buddy/msg/containers/partitioner.hpp"

namespace buddy::msg::containers {

namespace detail {
template <class K, class P>
struct set_state {
  explicit set_state(P p) : part(std::move(p)) {}
  std::unordered_set<K, local_hash<K>> local;
  P part;
  std::vector<K> collected;
};
}  // namespace detail

template <class K, class Partitioner = hash_partitioner<K>>
class set : public detail::container_base<detail::set_state<K, Partitioner>, set<K, Partitioner>> {
  using state = detail::set_state<K, Partitioner>;
  using base = detail::container_base<state, set<K, Partitioner>>;
  friend base;
  using base::c_;
  using base::h_;
  using base::s_;

 public:
  using key_type = K;

  explicit set(comm& c, Partitioner p = {}) : base(c, "set", std::move(p)) {}

  int owner(const K& k) const { return s_->part.owner(k, c_.size()); }

  void async_insert(const K& k) {
    c_.async(
        owner(k), [h = h_](const K& key) { h->local.insert(key); }, k);
  }
  void async_erase(const K& k) {
    c_.async(
        owner(k), [h = h_](const K& key) { h->local.erase(key); }, k);
  }
  // fn(contains, key, args...) on the owner.
  template <class Fn, class... Args>
  void async_contains(const K& k, const Fn& fn, const Args&... args) {
    detail::check_function<Fn>();
    c_.async(
        owner(k),
        [h = h_, fn](comm& c, const K& key, const Args&... a) {
          const bool has = h->local.contains(key);
          detail::invoke_user(c, fn, has, key, a...);
        },
        k, args...);
  }
  // Inserts k; fn(was_there_before, key, args...) on the owner.
  template <class Fn, class... Args>
  void async_insert_contains(const K& k, const Fn& fn, const Args&... args) {
    detail::check_function<Fn>();
    c_.async(
        owner(k),
        [h = h_, fn](comm& c, const K& key, const Args&... a) {
          const bool fresh = h->local.insert(key).second;
          detail::invoke_user(c, fn, !fresh, key, a...);
        },
        k, args...);
  }

  bool local_contains(const K& k) const { return s_->local.contains(k); }
  std::size_t local_size() const { return s_->local.size(); }
  template <class Fn>
  void local_for_all(const Fn& fn) {
    const comm::handler_hold hold(c_);
    for (const K& k : s_->local) detail::invoke_user(c_, fn, k);
  }

  // Every key, on rank root (in no particular order).
  std::vector<K> gather(int root = 0) {
    this->collective("gather");
    c_.barrier();
    {
      const comm::handler_hold hold(c_);
      for (const K& k : s_->local) {
        c_.async(
            root, [h = h_](const K& key) { h->collected.push_back(key); }, k);
      }
    }
    c_.barrier();
    return std::exchange(s_->collected, {});
  }

 private:
  void local_clear() { s_->local.clear(); }
};

}  // namespace buddy::msg::containers
