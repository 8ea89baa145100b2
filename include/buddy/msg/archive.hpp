// Serialization of async() arguments into a record payload, and back on the destination.
// Supported: trivially copyable types (raw bytes), std::string, std::vector<T> and
// std::array<T, N> of supported T, std::pair and std::tuple of supported types. Anything else,
// and pointers or views (meaningless on another rank), is a compile error with a readable
// message. Encoding (native byte order, no padding or alignment):
//   trivially copyable T   sizeof(T) bytes
//   std::string            count:u32, then count bytes
//   std::vector<T>         count:u32, then each element (one memcpy if T is trivially copyable)
//   std::array<T, N>       each element (N is known to both sides)
//   std::pair / tuple      each member in order
// The reader checks every read against the end of the record: a corrupt payload throws
// buddy::msg::error, it never reads out of bounds.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

#include "buddy/msg/transport/error.hpp"

namespace buddy::msg::archive {

template <class T>
struct traits {
  static constexpr bool pointer_like =
      std::is_pointer_v<T> || std::is_member_pointer_v<T> || std::is_null_pointer_v<T>;
  static constexpr bool supported = std::is_trivially_copyable_v<T> && !pointer_like;
};
template <class C, class Tr>
struct traits<std::basic_string_view<C, Tr>> {
  static constexpr bool supported = false;
};
template <class T, std::size_t E>
struct traits<std::span<T, E>> {
  static constexpr bool supported = false;
};
template <>
struct traits<std::string> {
  static constexpr bool supported = true;
};
template <class T, class A>
struct traits<std::vector<T, A>> {
  static constexpr bool supported = traits<T>::supported;
};
template <class A>
struct traits<std::vector<bool, A>> {  // packed bits, no data(): send std::vector<char>
  static constexpr bool supported = false;
};
template <class T, std::size_t N>
struct traits<std::array<T, N>> {
  static constexpr bool supported = traits<T>::supported;
};
template <class A, class B>
struct traits<std::pair<A, B>> {
  static constexpr bool supported = traits<A>::supported && traits<B>::supported;
};
template <class... Ts>
struct traits<std::tuple<Ts...>> {
  static constexpr bool supported = (traits<Ts>::supported && ...);
};

template <class T>
inline constexpr bool serializable_v = traits<std::remove_cvref_t<T>>::supported;

template <class T>
inline constexpr bool raw_v = std::is_trivially_copyable_v<T>&& serializable_v<T>;

// ---- size ----
template <class T>
std::size_t size_of(const T& v);

template <class T>
std::size_t size_of_seq(const T* p, std::size_t n) {
  if constexpr (raw_v<T>) {
    (void)p;
    return n * sizeof(T);
  } else {
    std::size_t s = 0;
    for (std::size_t i = 0; i < n; ++i) s += size_of(p[i]);
    return s;
  }
}

template <class T>
std::size_t size_of(const T& v) {
  static_assert(serializable_v<T>,
                "buddy::msg: this argument type cannot be sent; use trivially copyable types "
                "(no pointers or views), std::string, std::vector/std::array of those, or "
                "std::pair/std::tuple of those");
  if constexpr (raw_v<T>) {
    return sizeof(T);
  } else if constexpr (std::is_same_v<T, std::string>) {
    return 4 + v.size();
  } else if constexpr (requires {
                         v.data();
                         v.size();
                         typename T::allocator_type;
                       }) {
    return 4 + size_of_seq(v.data(), v.size());  // std::vector
  } else if constexpr (requires {
                         std::tuple_size<T>::value;
                         v.data();
                       }) {
    return size_of_seq(v.data(), v.size());  // std::array of non-raw elements
  } else {
    return std::apply([](const auto&... m) { return (std::size_t{0} + ... + size_of(m)); }, v);
  }
}

// ---- write (the caller reserved size_of(v) bytes at p) ----
inline void put_count(std::byte*& p, std::size_t n) {
  if (n > 0xFFFFFFFFu) throw error("buddy::msg: a string or vector argument exceeds 2^32-1 items");
  const auto c = static_cast<std::uint32_t>(n);
  std::memcpy(p, &c, 4);
  p += 4;
}

template <class T>
void write(std::byte*& p, const T& v);

template <class T>
void write_seq(std::byte*& p, const T* src, std::size_t n) {
  if constexpr (raw_v<T>) {
    if (n != 0) std::memcpy(p, src, n * sizeof(T));
    p += n * sizeof(T);
  } else {
    for (std::size_t i = 0; i < n; ++i) write(p, src[i]);
  }
}

template <class T>
void write(std::byte*& p, const T& v) {
  if constexpr (raw_v<T>) {
    std::memcpy(p, &v, sizeof(T));
    p += sizeof(T);
  } else if constexpr (std::is_same_v<T, std::string>) {
    put_count(p, v.size());
    write_seq(p, v.data(), v.size());
  } else if constexpr (requires {
                         v.data();
                         v.size();
                         typename T::allocator_type;
                       }) {
    put_count(p, v.size());
    write_seq(p, v.data(), v.size());
  } else if constexpr (requires {
                         std::tuple_size<T>::value;
                         v.data();
                       }) {
    write_seq(p, v.data(), v.size());
  } else {
    std::apply([&p](const auto&... m) { (write(p, m), ...); }, v);
  }
}

// ---- read ----
class reader {
 public:
  reader(const std::byte* p, std::size_t n) : p_(p), end_(p + n) {}

  void get(void* dst, std::size_t n) {
    if (n > remaining()) [[unlikely]] {
      overrun(n, remaining());
    }
    if (n != 0) std::memcpy(dst, p_, n);
    p_ += n;
  }
  std::size_t get_count(std::size_t min_item_bytes) {
    std::uint32_t c;
    get(&c, 4);
    // Every item takes at least min_item_bytes: reject impossible counts before allocating.
    if (min_item_bytes != 0 && c > remaining() / min_item_bytes) [[unlikely]] {
      bad_count(c, remaining());
    }
    return c;
  }
  std::size_t remaining() const { return static_cast<std::size_t>(end_ - p_); }
  bool done() const { return p_ == end_; }

 private:
  // Out of line and cold, so that get() stays a bounds check and a memcpy.
  [[noreturn, gnu::noinline, gnu::cold]] static void overrun(std::size_t want, std::size_t left) {
    throw error("corrupt message: an argument runs past the end of its record (" +
                std::to_string(want) + " bytes wanted, " + std::to_string(left) + " left)");
  }
  [[noreturn, gnu::noinline, gnu::cold]] static void bad_count(std::size_t c, std::size_t left) {
    throw error("corrupt message: a count of " + std::to_string(c) + " items does not fit in the " +
                std::to_string(left) + " bytes left of its record");
  }

  const std::byte* p_;
  const std::byte* end_;
};

template <class T>
void read(reader& r, T& v);

template <class T>
void read_seq(reader& r, T* dst, std::size_t n) {
  if constexpr (raw_v<T>) {
    r.get(dst, n * sizeof(T));
  } else {
    for (std::size_t i = 0; i < n; ++i) read(r, dst[i]);
  }
}

// The fewest bytes one encoded T can take: bounds a decoded count before anything is allocated.
template <class T>
struct min_size {
  static constexpr std::size_t value = sizeof(T);  // raw
};
template <>
struct min_size<std::string> {
  static constexpr std::size_t value = 4;
};
template <class T, class A>
struct min_size<std::vector<T, A>> {
  static constexpr std::size_t value = 4;
};
template <class T, std::size_t N>
struct min_size<std::array<T, N>> {
  static constexpr std::size_t value = N * min_size<T>::value;
};
template <class A, class B>
struct min_size<std::pair<A, B>> {
  static constexpr std::size_t value = min_size<A>::value + min_size<B>::value;
};
template <class... Ts>
struct min_size<std::tuple<Ts...>> {
  static constexpr std::size_t value = (std::size_t{0} + ... + min_size<Ts>::value);
};

template <class T>
constexpr std::size_t min_bytes() {
  return min_size<T>::value;
}

template <class T>
void read(reader& r, T& v) {
  static_assert(serializable_v<T>, "buddy::msg: this argument type cannot be received");
  if constexpr (raw_v<T>) {
    r.get(&v, sizeof(T));
  } else if constexpr (std::is_same_v<T, std::string>) {
    v.resize(r.get_count(1));
    read_seq(r, v.data(), v.size());
  } else if constexpr (requires {
                         v.data();
                         v.size();
                         typename T::allocator_type;
                       }) {
    v.resize(r.get_count(min_bytes<typename T::value_type>()));
    read_seq(r, v.data(), v.size());
  } else if constexpr (requires {
                         std::tuple_size<T>::value;
                         v.data();
                       }) {
    read_seq(r, v.data(), v.size());
  } else {
    std::apply([&r](auto&... m) { (read(r, m), ...); }, v);
  }
}

}  // namespace buddy::msg::archive
