#include "buddy/kv/wire/parse.hpp"

namespace buddy::kv::wire {

Drop read_header(std::span<const std::byte> dgram, Kind expected, DatagramHeader& out) noexcept {
  if (dgram.size() < sizeof(DatagramHeader)) return Drop::short_header;
  out = load<DatagramHeader>(dgram.data());
  if (out.magic != kMagic) return Drop::bad_magic;
  if (out.version != kVersion) return Drop::bad_version;
  if (out.kind != expected) return Drop::bad_kind;
  if (out.payload_bytes != dgram.size() - sizeof(DatagramHeader)) return Drop::bad_length;
  return Drop::none;
}

namespace {

// Shared framing loop: entry = Header + extra bytes given by the header (checked against the
// remaining bytes in 64-bit arithmetic, so no length can wrap around).
// extra(view) gives the bytes after the entry header; bind(view, p) points the view's strings at
// them, only once they are known to lie inside the datagram.
template <class View, class Header, class Extra, class Bind>
Parsed<View> frame(std::span<const std::byte> dgram, Kind kind, std::span<View> out, Extra extra_of,
                   Bind bind) {
  Parsed<View> p;
  p.drop = read_header(dgram, kind, p.header);
  if (p.drop != Drop::none) return p;
  const std::size_t n = p.header.count;
  if (n == 0 || n > kMaxCount || n > out.size()) {
    p.drop = Drop::bad_count;
    return p;
  }
  const std::byte* cur = dgram.data() + sizeof(DatagramHeader);
  const std::byte* const end = dgram.data() + dgram.size();
  for (std::size_t i = 0; i < n; ++i) {
    if (static_cast<std::size_t>(end - cur) < sizeof(Header)) {
      p.drop = Drop::truncated;
      return p;
    }
    View& v = out[i];
    v.h = load<Header>(cur);
    cur += sizeof(Header);
    const std::uint64_t extra = extra_of(v);
    if (extra > static_cast<std::uint64_t>(end - cur)) {
      p.drop = Drop::truncated;
      return p;
    }
    bind(v, reinterpret_cast<const char*>(cur));
    cur += extra;
  }
  if (cur != end) {
    p.drop = Drop::trailing;
    return p;
  }
  p.count = n;
  return p;
}

}  // namespace

Parsed<RequestView> parse_requests(std::span<const std::byte> dgram,
                                   std::span<RequestView> out) noexcept {
  return frame<RequestView, RequestHeader>(
      dgram, Kind::request, out,
      [](const RequestView& v) { return std::uint64_t{v.h.key_len} + v.h.value_len; },
      [](RequestView& v, const char* c) {
        v.key = std::string_view(c, v.h.key_len);
        v.value = std::string_view(c + v.h.key_len, v.h.value_len);
      });
}

Parsed<ResponseView> parse_responses(std::span<const std::byte> dgram,
                                     std::span<ResponseView> out) noexcept {
  return frame<ResponseView, ResponseHeader>(
      dgram, Kind::response, out,
      [](const ResponseView& v) { return std::uint64_t{v.h.value_len}; },
      [](ResponseView& v, const char* c) { v.value = std::string_view(c, v.h.value_len); });
}

Status check_request(const RequestView& r) noexcept {
  if (r.h.op == Opcode::ping) {
    const bool ok = r.h.flags == 0 && r.h.key_len == 0 && r.h.value_len == 0 && r.h.key_hash == 0;
    return ok ? Status::ok : Status::malformed;
  }
  if (r.h.flags != 0 || !valid_request(r.h.op, r.h.key_len, r.h.value_len)) {
    return Status::malformed;
  }
  if (key_hash(r.key) != r.h.key_hash) return Status::malformed;
  return Status::ok;
}

}  // namespace buddy::kv::wire
