// The wire framing of buddy::msg, shared by inline ranks, relaying ranks and (next) the offload
// engine. An MPI message (a "buffer") is a plain concatenation of records, no buffer header:
//
//   record  = dest:u32  length:u32  payload[length]          (native byte order, unaligned)
//   payload = handler:u32  fn[sizeof(Fn) or 0 if empty]  args...   (only the final rank reads it)
//
// A relaying rank or an engine parses only dest and length and copies the record on unchanged,
// so it needs no handler table. for_each_record() validates every header against the buffer and
// the world size and throws buddy::msg::error with a one-line reason on a corrupt buffer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "buddy/msg/transport/error.hpp"

namespace buddy::msg::wire {

inline constexpr std::size_t header_bytes = 8;
inline constexpr std::size_t handler_id_bytes = 4;
// A record travels in one MPI message at most (int count): header + payload <= INT_MAX.
inline constexpr std::uint32_t max_payload = 0x7FFFFFFFu - header_bytes;

inline void write_header(std::byte* p, std::uint32_t dest, std::uint32_t length) noexcept {
  std::memcpy(p, &dest, 4);
  std::memcpy(p + 4, &length, 4);
}

struct record {
  std::uint32_t dest;
  std::uint32_t length;
  const std::byte* payload;
};

[[noreturn, gnu::noinline, gnu::cold]] inline void corrupt_tail(std::size_t off, std::size_t left) {
  throw error("corrupt message buffer: " + std::to_string(left) + " trailing bytes at offset " +
              std::to_string(off) + " are too short for a record header");
}
[[noreturn, gnu::noinline, gnu::cold]] inline void corrupt_dest(std::size_t off, std::uint32_t dest,
                                                                std::uint32_t nranks) {
  throw error("corrupt message buffer: record at offset " + std::to_string(off) +
              " is addressed to rank " + std::to_string(dest) + " of " + std::to_string(nranks));
}
[[noreturn, gnu::noinline, gnu::cold]] inline void corrupt_length(std::size_t off,
                                                                  std::uint32_t length,
                                                                  std::size_t left) {
  throw error("corrupt message buffer: record at offset " + std::to_string(off) + " claims " +
              std::to_string(length) + " payload bytes, only " + std::to_string(left) + " remain");
}

// Calls f(record) for each record of buf[0, size). Throws before calling f on a record whose
// header is cut short, whose length runs past the buffer, or whose dest is not below nranks.
template <class F>
void for_each_record(const std::byte* buf, std::size_t size, std::uint32_t nranks, F&& f) {
  std::size_t off = 0;
  while (off < size) {
    if (size - off < header_bytes) [[unlikely]] {
      corrupt_tail(off, size - off);
    }
    record r;
    std::memcpy(&r.dest, buf + off, 4);
    std::memcpy(&r.length, buf + off + 4, 4);
    if (r.dest >= nranks) [[unlikely]] {
      corrupt_dest(off, r.dest, nranks);
    }
    if (r.length > size - off - header_bytes) [[unlikely]] {
      corrupt_length(off, r.length, size - off - header_bytes);
    }
    r.payload = buf + off + header_bytes;
    f(r);
    off += header_bytes + r.length;
  }
}

}  // namespace buddy::msg::wire
