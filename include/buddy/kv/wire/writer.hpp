// Builders for buddykv datagrams into a caller's buffer of a fixed capacity (the datagram size
// limit). add() refuses an entry that does not fit and leaves the datagram as it was, so the
// caller sends what it has and starts the next datagram.
#pragma once

#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

#include "buddy/base/small_copy.hpp"
#include "buddy/kv/wire/format.hpp"

namespace buddy::kv::wire {

template <class Header>
class DatagramWriter {
 public:
  DatagramWriter() = default;
  // buf.size() is the datagram limit (at most kMaxDatagram).
  DatagramWriter(std::span<std::byte> buf, Kind kind, std::uint32_t client_id) noexcept
      : buf_(buf.data()), cap_(buf.size() < kMaxDatagram ? buf.size() : kMaxDatagram) {
    hdr_.kind = kind;
    hdr_.client_id = client_id;
    used_ = sizeof(DatagramHeader);
    if (cap_ < used_) cap_ = used_ = 0;  // too small for a header: add() and finish() refuse
  }

  std::size_t count() const noexcept { return hdr_.count; }
  bool empty() const noexcept { return hdr_.count == 0; }
  std::size_t bytes() const noexcept { return used_; }
  std::size_t room() const noexcept { return cap_ - used_; }
  // Bytes a datagram of this kind needs for one entry with `extra` bytes after its header.
  static constexpr std::size_t entry_bytes(std::size_t extra) { return sizeof(Header) + extra; }

  // Writes the datagram header; returns the datagram's size in bytes (0: buffer too small).
  std::size_t finish() noexcept {
    if (cap_ == 0) return 0;
    hdr_.payload_bytes = static_cast<std::uint32_t>(used_ - sizeof(DatagramHeader));
    store(buf_, hdr_);
    return used_;
  }

 protected:
  bool append(const Header& h, std::string_view a, std::string_view b) noexcept {
    const std::size_t need = sizeof(Header) + a.size() + b.size();
    if (need > cap_ - used_ || hdr_.count >= kMaxCount) return false;
    store(buf_ + used_, h);
    copy_entry(sizeof(Header), a, b);
    return true;
  }
  // The same with the header given as its words (sizeof(Header) / 8 of them, in memory order).
  bool append_words(const std::array<std::uint64_t, sizeof(Header) / 8>& words, std::string_view a,
                    std::string_view b) noexcept {
    static_assert(sizeof(Header) % 8 == 0);
    const std::size_t need = sizeof(Header) + a.size() + b.size();
    if (need > cap_ - used_ || hdr_.count >= kMaxCount) return false;
    for (std::size_t i = 0; i < words.size(); ++i) {
      std::memcpy(buf_ + used_ + 8 * i, &words[i], 8);
    }
    copy_entry(sizeof(Header), a, b);
    return true;
  }

 private:
  // The bytes after the entry's header (at used_ + header), then the entry is counted.
  void copy_entry(std::size_t header, std::string_view a, std::string_view b) noexcept {
    std::byte* p = buf_ + used_ + header;
    base::copy_bytes(p, a.data(), a.size());
    base::copy_bytes(p + a.size(), b.data(), b.size());
    used_ += header + a.size() + b.size();
    ++hdr_.count;
  }

  std::byte* buf_ = nullptr;
  std::size_t cap_ = 0;
  std::size_t used_ = 0;
  DatagramHeader hdr_{};
};

class RequestWriter : public DatagramWriter<RequestHeader> {
 public:
  RequestWriter() = default;
  RequestWriter(std::span<std::byte> buf, std::uint32_t client_id) noexcept
      : DatagramWriter(buf, Kind::request, client_id) {}

  // hash must be key_hash(key); value only for SET.
  bool add(Opcode op, std::uint64_t hash, std::uint64_t id, std::uint64_t ts, std::string_view key,
           std::string_view value = {}) noexcept {
    // The header as four words stored straight into the datagram: a RequestHeader built on the
    // stack and copied in is stored narrow and loaded back wide, a store-forwarding stall on
    // every request the client sends (the client's hottest line).
    // (key_len and value_len truncated to their fields' widths, as the struct's would be.)
    const std::uint64_t head = static_cast<std::uint64_t>(op) |
                               (std::uint64_t{key.size()} & 0xffff) << 16 |
                               (std::uint64_t{value.size()} & 0xffffffff) << 32;
    return append_words({head, hash, id, ts}, key, value);
  }
};
static_assert(offsetof(RequestHeader, op) == 0 && offsetof(RequestHeader, flags) == 1 &&
                  offsetof(RequestHeader, key_len) == 2 &&
                  offsetof(RequestHeader, value_len) == 4 &&
                  offsetof(RequestHeader, key_hash) == 8 &&
                  offsetof(RequestHeader, request_id) == 16 &&
                  offsetof(RequestHeader, timestamp) == 24 &&
                  std::endian::native == std::endian::little,
              "RequestWriter::add writes the header as four little-endian words");

class ResponseWriter : public DatagramWriter<ResponseHeader> {
 public:
  ResponseWriter() = default;
  ResponseWriter(std::span<std::byte> buf, std::uint32_t client_id) noexcept
      : DatagramWriter(buf, Kind::response, client_id) {}

  bool add(Status st, Opcode op, std::uint64_t id, std::uint64_t ts,
           std::string_view value = {}) noexcept {
    ResponseHeader h;
    h.status = st;
    h.op = op;
    h.value_len = static_cast<std::uint32_t>(value.size());
    h.request_id = id;
    h.timestamp = ts;
    return append(h, value, {});
  }
};

// The largest value a single-entry datagram of `limit` bytes can carry.
constexpr std::size_t max_response_value(std::size_t limit) {
  return limit - sizeof(DatagramHeader) - sizeof(ResponseHeader);
}
constexpr std::size_t max_request_value(std::size_t limit, std::size_t key_len) {
  return limit - sizeof(DatagramHeader) - sizeof(RequestHeader) - key_len;
}

}  // namespace buddy::kv::wire
