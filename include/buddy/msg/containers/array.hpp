// array<T>: n values split in blocks over the ranks (block_partitioner: rank r holds indices
// [r*b, (r+1)*b), b = ceil(n / ranks)). async_set, async_visit (fn(index, value&, args...) or
// fn(comm&, index, value&, args...)) and async_reduce (value = op(value, v)) send one message
// to the owner. An index >= size() throws buddy::msg::error on the sender. Collectives:
// for_all, clear (every value back to the default), gather (see map.hpp).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "buddy/msg/containers/detail/container_base.hpp"
#include "buddy/msg/containers/partitioner.hpp"

namespace buddy::msg::containers {

namespace detail {
template <class T>
struct array_state {
  array_state(block_partitioner p, T d, int rank)
      : part(p), default_value(std::move(d)), local(part.local_size(rank), default_value) {}
  block_partitioner part;
  T default_value;
  std::vector<T> local;
  std::vector<T> collected;  // gather, on the root
};
}  // namespace detail

template <class T>
class array : public detail::container_base<detail::array_state<T>, array<T>> {
  using state = detail::array_state<T>;
  using base = detail::container_base<state, array<T>>;
  friend base;
  using base::c_;
  using base::h_;
  using base::s_;

 public:
  using value_type = T;

  // Collective: n values, each default_value.
  array(comm& c, std::uint64_t n, T default_value = T{})
      : base(c, "array", block_partitioner(n, c.size()), std::move(default_value), c.rank()) {}

  std::uint64_t size() const { return s_->part.total; }
  const block_partitioner& partitioner() const { return s_->part; }
  int owner(std::uint64_t i) const { return s_->part.owner(i); }

  void async_set(std::uint64_t i, const T& v) {
    check(i);
    c_.async(
        owner(i), [h = h_](std::uint64_t slot, const T& val) { h->local[slot] = val; },
        s_->part.local_index(i), v);
  }
  template <class Fn, class... Args>
  void async_visit(std::uint64_t i, const Fn& fn, const Args&... args) {
    detail::check_function<Fn>();
    check(i);
    c_.async(owner(i), visitor<Fn, Args...>{h_, fn}, i, args...);
  }
  template <class Op>
  void async_reduce(std::uint64_t i, const T& v, const Op& op) {
    detail::check_function<Op>();
    check(i);
    c_.async(owner(i), reducer<Op>{h_, op}, s_->part.local_index(i), v);
  }

  // This rank's block: global index first(rank) + j is local()[j].
  const std::vector<T>& local() const { return s_->local; }
  std::uint64_t local_first() const { return s_->part.first(c_.rank()); }
  template <class Fn>
  void local_for_all(const Fn& fn) {
    const comm::handler_hold hold(c_);
    const std::uint64_t first = local_first();
    for (std::size_t j = 0; j < s_->local.size(); ++j) {
      detail::invoke_user(c_, fn, first + j, s_->local[j]);
    }
  }
  // Collective: the whole array on rank root (other ranks get an empty vector).
  std::vector<T> gather(int root = 0) {
    this->collective("gather");
    state& s = *s_;
    // Sized before the barrier: a rank that leaves it first may send its blocks while the root
    // is still in it.
    if (c_.rank() == root) s.collected.assign(s.part.total, s.default_value);
    c_.barrier();
    {
      const comm::handler_hold hold(c_);
      // One message per block of up to 4096 values.
      constexpr std::size_t chunk = 4096;
      for (std::size_t j = 0; j < s.local.size(); j += chunk) {
        const std::size_t k = std::min(chunk, s.local.size() - j);
        std::vector<T> part(s.local.begin() + static_cast<std::ptrdiff_t>(j),
                            s.local.begin() + static_cast<std::ptrdiff_t>(j + k));
        c_.async(
            root,
            [h = h_](std::uint64_t first, const std::vector<T>& vals) {
              std::copy(vals.begin(), vals.end(),
                        h->collected.begin() + static_cast<std::ptrdiff_t>(first));
            },
            local_first() + j, part);
      }
    }
    c_.barrier();
    return std::exchange(s.collected, {});
  }

 private:
  // Structs, not lambdas: an empty fn or op then adds no byte to the message.
  template <class Fn, class... Args>
  struct visitor {
    local_ptr<state> h;
    [[no_unique_address]] Fn fn;
    void operator()(comm& c, std::uint64_t index, const Args&... a) const {
      state& s = *h;
      detail::invoke_user(c, fn, index, s.local[s.part.local_index(index)], a...);
    }
  };
  template <class Op>
  struct reducer {
    local_ptr<state> h;
    [[no_unique_address]] Op op;
    void operator()(std::uint64_t slot, const T& val) const {
      T& x = h->local[slot];
      x = op(x, val);
    }
  };
  void check(std::uint64_t i) const {
    if (i >= s_->part.total) {
      this->fail("index " + std::to_string(i) + " is outside [0, " +
                 std::to_string(s_->part.total) + ")");
    }
  }
  void local_clear() { std::fill(s_->local.begin(), s_->local.end(), s_->default_value); }
};

}  // namespace buddy::msg::containers
