// A process-local SPSC ring of fixed-size entries between two threads: a RingHeader and its slots
// on the heap with one FixedProducer and one FixedConsumer over them, so threads of one process
// use the same index code (cached indices, one release store per publish) as the shared-memory
// rings. The producer thread uses only producer(), the consumer thread only consumer().
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "buddy/qp/fixed_ring.hpp"
#include "buddy/qp/ring_header.hpp"

namespace buddy::qp {

template <class T>
class LocalRing {
 public:
  // slots: rounded up to a power of two, at least 2.
  explicit LocalRing(std::size_t slots) : mem_(allocate(pow2_at_least(slots))) {
    auto* h = header();
    prod_ = FixedProducer<T>(h, mem_.get() + sizeof(RingHeader));
    cons_ = FixedConsumer<T>(h, mem_.get() + sizeof(RingHeader));
  }
  LocalRing(const LocalRing&) = delete;
  LocalRing& operator=(const LocalRing&) = delete;

  std::uint64_t capacity() const { return header()->capacity; }
  FixedProducer<T>& producer() { return prod_; }  // the producer thread's end
  FixedConsumer<T>& consumer() { return cons_; }  // the consumer thread's end

 private:
  struct Free {
    void operator()(std::byte* p) const { ::operator delete[](p, std::align_val_t{kCacheLine}); }
  };
  using Memory = std::unique_ptr<std::byte[], Free>;

  static std::uint64_t pow2_at_least(std::size_t n) {
    std::uint64_t cap = 2;
    while (cap < n) cap *= 2;
    return cap;
  }
  static Memory allocate(std::uint64_t cap) {
    Memory m(static_cast<std::byte*>(
        ::operator new[](sizeof(RingHeader) + cap * sizeof(T), std::align_val_t{kCacheLine})));
    auto* h = new (m.get()) RingHeader{};
    h->capacity = cap;
    h->entry_bytes = sizeof(T);
    h->kind = RingKind::fixed;
    return m;
  }
  RingHeader* header() const { return reinterpret_cast<RingHeader*>(mem_.get()); }

  Memory mem_;
  FixedProducer<T> prod_;
  FixedConsumer<T> cons_;
};

}  // namespace buddy::qp
