// The wire framing of buddy::msg, shared by inline ranks, relaying ranks and the offload engine.
// An MPI message (a "buffer") is a plain concatenation of frames, no buffer header:
//
//   frame   = dest:u32  length:u32  payload[length]           (native byte order, unaligned)
//   payload = handler:u32  fn[sizeof(Fn) or 0 if empty]  record+   (only the final rank reads it)
//   record  = args                        when the handler's arguments have one fixed size > 0
//           | length:varint  args[length]  otherwise (strings, vectors, no arguments)
//
// A frame is a "run": one or more messages of one handler, with the same function object bytes,
// for one destination. The sender appends a message to the frame at the tail of the destination's
// buffer when those match (the frame grows to at most max_run_bytes), else it starts a new frame;
// so consecutive messages of one handler to one rank pay one header between them. varint is
// LEB128 (7 bits a byte, low first, at most 5 bytes for a u32). A relaying rank or an engine
// parses only dest and length and copies the frame on unchanged, so it needs no handler table.
// for_each_record() validates every frame header against the buffer and the world size and throws
// buddy::msg::error with a one-line reason on a corrupt buffer. (The frame is called a "record"
// in the code below and in msg_engine, which never look inside it.)
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "buddy/msg/transport/error.hpp"

namespace buddy::msg::wire {

inline constexpr std::size_t header_bytes = 8;
inline constexpr std::size_t handler_id_bytes = 4;
// A frame grows by appended messages up to this payload size (a fresh frame may be larger: one
// message of any size up to max_payload).
inline constexpr std::uint32_t max_run_bytes = 4096 - header_bytes;
// A record travels in one MPI message at most (int count): header + payload <= INT_MAX.
inline constexpr std::uint32_t max_payload = 0x7FFFFFFFu - header_bytes;

inline void write_header(std::byte* p, std::uint32_t dest, std::uint32_t length) noexcept {
  std::memcpy(p, &dest, 4);
  std::memcpy(p + 4, &length, 4);
}

// True if the frame at `frame` (its header) can take `extra` more payload bytes of one more
// message: it is for dest, its payload starts with prefix (handler id and function object) and
// it stays within max_run_bytes. The caller checks its buffer's room, writes the bytes right
// after the frame's end and then calls grow_frame. The prefix's size is a template argument and
// the comparison is word loads (GCC 12 calls memcmp even for a constant 12 bytes: 13% of
// index-gather's samples).
template <std::size_t N>
inline bool same_bytes(const std::byte* a, const std::byte* b) noexcept {
  std::size_t i = 0;
  std::uint64_t diff = 0;
  for (; i + 8 <= N; i += 8) {
    std::uint64_t x, y;
    std::memcpy(&x, a + i, 8);
    std::memcpy(&y, b + i, 8);
    diff |= x ^ y;
  }
  if constexpr (N % 8 >= 4) {
    std::uint32_t x, y;
    std::memcpy(&x, a + i, 4);
    std::memcpy(&y, b + i, 4);
    diff |= x ^ y;
    i += 4;
  }
  for (; i < N; ++i) diff |= static_cast<std::uint64_t>(a[i] ^ b[i]);
  return diff == 0;
}
template <std::size_t N>
inline bool frame_takes(const std::byte* frame, std::uint32_t dest, std::uint32_t extra,
                        const std::byte (&prefix)[N]) noexcept {
  std::uint32_t d, len;
  std::memcpy(&d, frame, 4);
  std::memcpy(&len, frame + 4, 4);
  return d == dest && len >= N && len + std::size_t{extra} <= max_run_bytes &&
         same_bytes<N>(frame + header_bytes, prefix);
}
inline void grow_frame(std::byte* frame, std::uint32_t extra) noexcept {
  std::uint32_t len;
  std::memcpy(&len, frame + 4, 4);
  len += extra;
  std::memcpy(frame + 4, &len, 4);
}

// LEB128 of a u32: bytes it takes, writing it, reading it (nullptr if cut short or too long).
constexpr std::size_t varint_bytes(std::uint32_t v) noexcept {
  std::size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}
inline std::byte* put_varint(std::byte* p, std::uint32_t v) noexcept {
  while (v >= 0x80) {
    *p++ = static_cast<std::byte>((v & 0x7F) | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::byte>(v);
  return p;
}
inline const std::byte* get_varint(const std::byte* p, const std::byte* end,
                                   std::uint32_t& v) noexcept {
  std::uint32_t r = 0;
  for (int shift = 0; shift < 35 && p != end; shift += 7) {
    const auto b = static_cast<std::uint32_t>(*p++);
    if (shift == 28 && b > 0x0F) return nullptr;  // more than 32 bits
    r |= (b & 0x7F) << shift;
    if ((b & 0x80) == 0) {
      v = r;
      return p;
    }
  }
  return nullptr;
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
