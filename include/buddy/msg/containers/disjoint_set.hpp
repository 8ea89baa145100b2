// disjoint_set<K>: union-find over keys spread by hash over the ranks; each key's parent is
// kept by the key's owner, and a parent is always smaller (operator<) than its child, so the
// root of every set is its smallest key. async_union(a, b) adds a and b if new and joins their
// sets by a chain of messages (Rem's algorithm with splicing): link(x, y), handled at x's owner
// with x > y, sets parent(x) = y if x is a root, else replaces x's parent p by the smaller of p
// and y and goes on with link(larger, smaller) of the two; every step lowers the larger key,
// so the chain ends, and it keeps the union of the sets. After barrier() the parents form a
// forest of the joined sets. all_compress() (collective) points every key at its root by
// pointer jumping, in rounds until nothing changes (about log2 of the tallest tree).
// find(keys) (collective) returns each key's root (the key itself if it was never added).
#pragma once

#include <cstdint>
#include <unordered_map>
#include <utility>
#include <vector>

#include "buddy/msg/containers/detail/container_base.hpp"
#include "buddy/msg/containers/partitioner.hpp"

namespace buddy::msg::containers {

namespace detail {
template <class K, class P>
struct dset_state {
  explicit dset_state(P p) : part(std::move(p)) {}
  std::unordered_map<K, K, local_hash<K>> parent;
  P part;
  std::uint64_t changed = 0;  // all_compress: parents lowered so far (never reset)
  std::vector<K> found;       // find: answers by position
  std::uint64_t link_steps = 0;

  K& parent_of(const K& k) { return parent.try_emplace(k, k).first->second; }
};

template <class K, class P>
struct dset_link {
  local_ptr<dset_state<K, P>> h;
  // x and y belong to one set; runs at owner(x).
  void operator()(comm& c, const K& x, const K& y) const {
    dset_state<K, P>& s = *h;
    ++s.link_steps;
    K& px = s.parent_of(x);
    if (x == y) return;
    if (x < y) {  // handle at the larger key's owner
      c.async(s.part.owner(y, c.size()), *this, y, x);
      return;
    }
    const K p = px;
    if (p == y) return;
    if (p == x) {  // x is a root: hang it below y
      px = y;
      return;
    }
    if (y < p) {  // splice: x goes below y, then p joins y
      px = y;
      c.async(s.part.owner(p, c.size()), *this, p, y);
    } else {  // p < y: y joins p
      c.async(s.part.owner(y, c.size()), *this, y, p);
    }
  }
};
}  // namespace detail

template <class K, class Partitioner = hash_partitioner<K>>
class disjoint_set : public detail::container_base<detail::dset_state<K, Partitioner>,
                                                   disjoint_set<K, Partitioner>> {
  using state = detail::dset_state<K, Partitioner>;
  using base = detail::container_base<state, disjoint_set<K, Partitioner>>;
  friend base;
  using base::c_;
  using base::h_;
  using base::s_;

 public:
  using key_type = K;

  explicit disjoint_set(comm& c, Partitioner p = {}) : base(c, "disjoint_set", std::move(p)) {}

  int owner(const K& k) const { return s_->part.owner(k, c_.size()); }

  // Adds k as a set of its own (nothing if it is there).
  void async_insert(const K& k) {
    c_.async(
        owner(k), [h = h_](const K& key) { h->parent_of(key); }, k);
  }
  // Joins the sets of a and b (adding either if new).
  void async_union(const K& a, const K& b) {
    c_.async(owner(a), detail::dset_link<K, Partitioner>{h_}, a, b);
  }

  // Collective: every key's parent becomes its root.
  void all_compress() {
    this->collective("all_compress");
    c_.barrier();
    state& s = *s_;
    // The count only grows: a rank that leaves a round's all_reduce first may lower parents
    // here (its next round) while this rank is still in it, so a reset could lose them. A
    // round changed nothing when the global sum did not grow.
    std::uint64_t before = c_.all_reduce_sum(s.changed);
    for (;;) {
      {
        const comm::handler_hold hold(c_);
        for (const auto& [k, p] : s.parent) {
          if (k == p) continue;
          // Ask p's owner for p's parent; the answer lowers k's parent if it differs.
          c_.async(
              owner(p),
              [h = h_](comm& c, const K& pk, const K& child) {
                state& st = *h;
                const K gp = st.parent_of(pk);
                if (gp == pk) return;
                c.async(
                    st.part.owner(child, c.size()),
                    [h2 = h](const K& ch, const K& g) {
                      K& pc = h2->parent_of(ch);
                      if (g < pc) {
                        pc = g;
                        ++h2->changed;
                      }
                    },
                    child, gp);
              },
              p, k);
        }
      }
      c_.barrier();
      const std::uint64_t after = c_.all_reduce_sum(s.changed);
      if (after == before) break;
      before = after;
    }
  }
  // Collective: the root of each of this rank's keys (compresses first).
  std::vector<K> find(const std::vector<K>& keys) {
    this->collective("find");
    all_compress();
    state& s = *s_;
    s.found.assign(keys.begin(), keys.end());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      c_.async(
          owner(keys[i]),
          [h = h_](comm& c, const K& k, int asker, std::uint64_t index) {
            const auto it = h->parent.find(k);
            const K root = it == h->parent.end() ? k : it->second;
            c.async(
                asker, [h2 = h](std::uint64_t at, const K& r) { h2->found[at] = r; }, index, root);
          },
          keys[i], c_.rank(), static_cast<std::uint64_t>(i));
    }
    c_.barrier();
    return std::exchange(s.found, {});
  }

  std::size_t local_size() const { return s_->parent.size(); }
  // fn(key, parent) over this rank's keys (after all_compress, the parent is the root).
  template <class Fn>
  void local_for_all(const Fn& fn) {
    const comm::handler_hold hold(c_);
    for (const auto& [k, p] : s_->parent) detail::invoke_user(c_, fn, k, p);
  }
  // Collective: the number of sets (roots).
  std::uint64_t num_sets() {
    this->collective("num_sets");
    c_.barrier();
    std::uint64_t roots = 0;
    for (const auto& [k, p] : s_->parent) roots += k == p;
    return c_.all_reduce_sum(roots);
  }
  std::uint64_t local_link_steps() const { return s_->link_steps; }

 private:
  void local_clear() { s_->parent.clear(); }
};

}  // namespace buddy::msg::containers
