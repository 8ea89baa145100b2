// The index bookkeeping every ring end shares, whatever it carries: its own position, the last
// position it published, and a cached copy of the other side's shared index, which is re-read
// only when the cached copy cannot satisfy a request (rings look full to the producer or empty
// to the consumer). One release store per publish().
#pragma once

#include <cstdint>

#include "buddy/qp/ring_header.hpp"

namespace buddy::qp::detail {

[[noreturn]] void throw_corrupt(const char* side, std::uint64_t head, std::uint64_t tail,
                                std::uint64_t capacity);

struct ProducerIndex {
  RingHeader* ring = nullptr;
  std::uint64_t cap = 0, mask = 0;
  std::uint64_t head = 0, published = 0, cached_tail = 0;

  ProducerIndex() = default;
  explicit ProducerIndex(RingHeader* h)
      : ring(h),
        cap(h->capacity),
        mask(h->capacity - 1),
        head(h->head.load(std::memory_order_relaxed)),
        published(head),
        cached_tail(h->tail.load(std::memory_order_acquire)) {}

  // Free room, in entries or bytes; re-reads the consumer's index only when the cached one
  // shows less than `need`.
  std::uint64_t free_for(std::uint64_t need) {
    std::uint64_t free = cap - (head - cached_tail);
    if (free < need) free = refresh();
    return free;
  }
  std::uint64_t refresh() {
    cached_tail = ring->tail.load(std::memory_order_acquire);
    if (head - cached_tail > cap) throw_corrupt("producer", head, cached_tail, cap);
    return cap - (head - cached_tail);
  }
  void publish() {
    if (head != published) {
      ring->head.store(head, std::memory_order_release);
      published = head;
    }
  }
};

struct ConsumerIndex {
  RingHeader* ring = nullptr;
  std::uint64_t cap = 0, mask = 0;
  std::uint64_t tail = 0, published = 0, cached_head = 0;

  ConsumerIndex() = default;
  explicit ConsumerIndex(RingHeader* h)
      : ring(h),
        cap(h->capacity),
        mask(h->capacity - 1),
        tail(h->tail.load(std::memory_order_relaxed)),
        published(tail),
        cached_head(h->head.load(std::memory_order_acquire)) {}

  // Published and unconsumed entries or bytes; re-reads the producer's index only when the
  // cached one shows less than `need`.
  std::uint64_t available_for(std::uint64_t need) {
    std::uint64_t avail = cached_head - tail;
    if (avail < need) avail = refresh();
    return avail;
  }
  std::uint64_t refresh() {
    cached_head = ring->head.load(std::memory_order_acquire);
    if (cached_head - tail > cap) throw_corrupt("consumer", cached_head, tail, cap);
    return cached_head - tail;
  }
  void publish() {
    if (tail != published) {
      ring->tail.store(tail, std::memory_order_release);
      published = tail;
    }
  }
};

}  // namespace buddy::qp::detail
