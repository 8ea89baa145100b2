// SPSC ring of fixed-size entries over a RingHeader in shared memory (the KV queue pairs:
// 32-byte requests, 16-byte responses).
//
// Each side keeps its own position and a cached copy of the other side's index in process-local
// memory, so the shared index of the other side is read only when the cached one says the ring is
// full (producer) or empty (consumer). Writes become visible only on publish(): a batch of any
// size, even one that wraps, costs one index store: one "DMA" per batch.
//
// Exactly one producer object and one consumer object may use a ring at a time.
#pragma once

#include <algorithm>
#include <cstring>
#include <span>
#include <type_traits>

#include "buddy/qp/detail/ring_index.hpp"
#include "buddy/qp/error.hpp"
#include "buddy/qp/ring_header.hpp"

namespace buddy::qp {

template <class T>
class alignas(kCacheLine) FixedProducer {
  static_assert(std::is_trivially_copyable_v<T>, "ring entries must be trivially copyable");

 public:
  FixedProducer() = default;
  FixedProducer(RingHeader* h, std::byte* data) : ix_(h), slots_(reinterpret_cast<T*>(data)) {}

  std::uint64_t capacity() const { return ix_.cap; }

  // Up to n free slots starting at the local position, contiguous in memory: fewer than n at the
  // wrap point or when the ring is (nearly) full, empty when full. Fill them, then advance().
  std::span<T> reserve(std::size_t n) {
    const std::uint64_t free = ix_.free_for(n);
    const std::uint64_t idx = ix_.head & ix_.mask;
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>({n, free, ix_.cap - idx}));
    return {slots_ + idx, k};
  }

  // Marks n reserved slots written; they stay invisible to the consumer until publish().
  void advance(std::size_t n) { ix_.head += n; }

  // Makes everything advanced so far visible: one release store.
  void publish() { ix_.publish(); }

  bool try_push(const T& v) {
    auto s = reserve(1);
    if (s.empty()) return false;
    s[0] = v;
    ++ix_.head;
    publish();
    return true;
  }

  // Copies up to n entries (across the wrap if needed) and publishes once; returns how many.
  std::size_t push_bulk(const T* src, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      auto s = reserve(n - done);
      if (s.empty()) break;
      std::memcpy(static_cast<void*>(s.data()), src + done, s.size() * sizeof(T));
      advance(s.size());
      done += s.size();
    }
    publish();
    return done;
  }

  // Free slots right now (refreshes the cached consumer index).
  std::uint64_t free_slots() { return ix_.refresh(); }

 private:
  detail::ProducerIndex ix_;
  T* slots_ = nullptr;
};

template <class T>
class alignas(kCacheLine) FixedConsumer {
  static_assert(std::is_trivially_copyable_v<T>, "ring entries must be trivially copyable");

 public:
  FixedConsumer() = default;
  FixedConsumer(RingHeader* h, std::byte* data)
      : ix_(h), slots_(reinterpret_cast<const T*>(data)) {}

  std::uint64_t capacity() const { return ix_.cap; }

  // Up to n filled entries at the local position, contiguous; empty when nothing is published.
  std::span<const T> peek(std::size_t n) {
    const std::uint64_t avail = ix_.available_for(n);
    const std::uint64_t idx = ix_.tail & ix_.mask;
    const auto k = static_cast<std::size_t>(std::min<std::uint64_t>({n, avail, ix_.cap - idx}));
    return {slots_ + idx, k};
  }

  // Marks n peeked entries consumed; the producer may reuse them after publish().
  void advance(std::size_t n) { ix_.tail += n; }

  void publish() { ix_.publish(); }

  bool try_pop(T& out) {
    auto s = peek(1);
    if (s.empty()) return false;
    out = s[0];
    ++ix_.tail;
    publish();
    return true;
  }

  // Copies up to n entries out (across the wrap if needed), publishes once; returns how many.
  std::size_t pop_bulk(T* dst, std::size_t n) {
    std::size_t done = 0;
    while (done < n) {
      auto s = peek(n - done);
      if (s.empty()) break;
      std::memcpy(static_cast<void*>(dst + done), s.data(), s.size() * sizeof(T));
      advance(s.size());
      done += s.size();
    }
    publish();
    return done;
  }

  // Calls f(const T&) on up to max entries in place, publishes once; returns how many.
  template <class F>
  std::size_t consume(std::size_t max, F&& f) {
    std::size_t done = 0;
    while (done < max) {
      auto s = peek(max - done);
      if (s.empty()) break;
      for (const T& e : s) f(e);
      advance(s.size());
      done += s.size();
    }
    publish();
    return done;
  }

  // Entries published and not yet consumed (refreshes the cached producer index).
  std::uint64_t available() { return ix_.refresh(); }

 private:
  detail::ConsumerIndex ix_;
  const T* slots_ = nullptr;
};

}  // namespace buddy::qp
