// bag<T>: an unordered multiset of items spread over the ranks. async_insert(v) sends v to the
// next rank in round-robin order (starting after this one), or to a given rank. rebalance()
// gives rank r the items at global positions [r*b, (r+1)*b), b = ceil(size / ranks) (the last
// ranks may hold fewer); shuffle(seed) sends each item to a random rank, then orders each
// rank's items randomly (a seed gives the same result on every run). Collectives: for_all, size,
// clear, gather, rebalance, shuffle (see map.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <utility>
#include <vector>

#include "buddy/msg/containers/detail/container_base.hpp"
#include "buddy/msg/containers/partitioner.hpp"

namespace buddy::msg::containers {

namespace detail {
template <class T>
struct bag_state {
  std::vector<T> local;
  std::vector<T> incoming;           // rebalance / shuffle / gather
  std::vector<std::uint64_t> sizes;  // rebalance: every rank's count
};

// splitmix64 stream: the same on every rank for the same seed.
struct seeded_stream {
  std::uint64_t state;
  std::uint64_t next() { return mix64(state += 0x9E3779B97F4A7C15ull); }
  std::uint64_t below(std::uint64_t n) {
    __extension__ using u128 = unsigned __int128;
    return static_cast<std::uint64_t>((static_cast<u128>(next()) * n) >> 64);
  }
};
}  // namespace detail

template <class T>
class bag : public detail::container_base<detail::bag_state<T>, bag<T>> {
  using state = detail::bag_state<T>;
  using base = detail::container_base<state, bag<T>>;
  friend base;
  using base::c_;
  using base::h_;
  using base::s_;

 public:
  using value_type = T;

  explicit bag(comm& c) : base(c, "bag"), next_(c.rank()) {}

  void async_insert(const T& v) {
    next_ = next_ + 1 == c_.size() ? 0 : next_ + 1;
    async_insert(v, next_);
  }
  void async_insert(const T& v, int dest) {
    c_.async(
        dest, [h = h_](const T& item) { h->local.push_back(item); }, v);
  }

  std::size_t local_size() const { return s_->local.size(); }
  template <class Fn>
  void local_for_all(const Fn& fn) {
    const comm::handler_hold hold(c_);
    for (T& v : s_->local) detail::invoke_user(c_, fn, v);
  }
  // Every item, on rank root (in no particular order).
  std::vector<T> gather(int root = 0) {
    this->collective("gather");
    c_.barrier();
    {
      const comm::handler_hold hold(c_);
      for (const T& v : s_->local) {
        c_.async(
            root, [h = h_](const T& item) { h->incoming.push_back(item); }, v);
      }
    }
    c_.barrier();
    return std::exchange(s_->incoming, {});
  }
  // Collective: rank r ends with the items of global positions [r*b, (r+1)*b), b =
  // ceil(size / ranks), positions counted rank by rank in local order.
  void rebalance() {
    this->collective("rebalance");
    state& s = *s_;
    // Sized before the barrier: a rank that leaves it first may send its count while this one
    // is still in it.
    s.sizes.assign(static_cast<std::size_t>(c_.size()), 0);
    c_.barrier();
    c_.async_bcast([h = h_](int r, std::uint64_t n) { h->sizes[static_cast<std::size_t>(r)] = n; },
                   c_.rank(), static_cast<std::uint64_t>(s.local.size()));
    c_.barrier();
    std::uint64_t total = 0, offset = 0;
    for (int r = 0; r < c_.size(); ++r) {
      if (r == c_.rank()) offset = total;
      total += s.sizes[static_cast<std::size_t>(r)];
    }
    const block_partitioner target(total, c_.size());
    std::vector<T> keep;
    {
      const comm::handler_hold hold(c_);
      for (std::size_t j = 0; j < s.local.size(); ++j) {
        const int dest = target.owner(offset + j);
        if (dest == c_.rank()) {
          keep.push_back(std::move(s.local[j]));
        } else {
          c_.async(
              dest, [h = h_](const T& item) { h->incoming.push_back(item); }, s.local[j]);
        }
      }
    }
    s.local = std::move(keep);
    c_.barrier();
    s.local.insert(s.local.end(), std::make_move_iterator(s.incoming.begin()),
                   std::make_move_iterator(s.incoming.end()));
    s.incoming.clear();
    c_.barrier();  // nobody inserts before every rank has taken its items
  }
  // Collective: every item to a random rank, then each rank's items in random order.
  void shuffle(std::uint64_t seed) {
    this->collective("shuffle");
    c_.barrier();
    state& s = *s_;
    detail::seeded_stream rng{mix64(seed ^ mix64(static_cast<std::uint64_t>(c_.rank()) + 1))};
    {
      const comm::handler_hold hold(c_);
      for (const T& v : s.local) {
        c_.async(
            static_cast<int>(rng.below(static_cast<std::uint64_t>(c_.size()))),
            [h = h_](const T& item) { h->incoming.push_back(item); }, v);
      }
    }
    s.local.clear();
    c_.barrier();
    s.local = std::exchange(s.incoming, {});
    for (std::size_t i = s.local.size(); i > 1; --i) {
      std::swap(s.local[i - 1], s.local[rng.below(i)]);
    }
    c_.barrier();
  }

 private:
  int next_;
  void local_clear() { s_->local.clear(); }
};

}  // namespace buddy::msg::containers
