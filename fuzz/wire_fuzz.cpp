// libFuzzer target for the buddykv wire readers (docs/protocol.md, section 2). Every input is
// read as a request, a response, a control request and a control response datagram. Checked:
//   - a dropped datagram has a known reason and no entries;
//   - a parsed datagram frames exactly: every key and value view lies inside the input, entries
//     follow each other without gaps and end at the input's end;
//   - a parsed datagram re-encoded with the writers (RequestWriter, ResponseWriter,
//     encode_control_request/encode_hello/encode_stats) gives back the input byte for byte, except
//     the flags/reserved bytes the writers always write as zero;
//   - check_request answers ok only for requests that really are well formed;
//   - a reader with room for fewer entries drops exactly when the datagram holds more.
// Any violation aborts, so libFuzzer reports it as a crash with the input saved.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>
#include <vector>

#include "buddy/kv/wire/control.hpp"
#include "buddy/kv/wire/parse.hpp"
#include "buddy/kv/wire/writer.hpp"

namespace {

using namespace buddy::kv::wire;

#define FUZZ_CHECK(cond)                                                                       \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "buddykv-wire-fuzz: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
                   #cond);                                                                     \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

constexpr std::size_t kHdr = sizeof(DatagramHeader);
constexpr std::size_t kFewEntries = 4;

bool inside(std::span<const std::byte> in, std::string_view v) {
  const auto* b = reinterpret_cast<const char*>(in.data());
  return v.size() <= in.size() && v.data() >= b && v.data() + v.size() <= b + in.size();
}

// A reason a parser gives (oversize is the receiver's own).
bool parser_reason(Drop d) {
  return d < Drop::oversize;
}

bool framing_drop(Drop d) {
  return d == Drop::short_header || d == Drop::bad_magic || d == Drop::bad_version ||
         d == Drop::bad_kind || d == Drop::bad_length;
}

// The parse with room for only kFewEntries entries agrees with the full one.
template <class P>
void check_few(const P& full, const P& few) {
  if (framing_drop(full.drop)) {
    FUZZ_CHECK(few.drop == full.drop);
  } else if (full.header.count > kFewEntries) {
    FUZZ_CHECK(few.drop == Drop::bad_count);
  } else {
    FUZZ_CHECK(few.drop == full.drop);
    FUZZ_CHECK(few.count == full.count);
  }
}

void zero(std::vector<std::byte>& v, std::size_t off, std::size_t n) {
  std::memset(v.data() + off, 0, n);
}

void requests(std::span<const std::byte> in) {
  static std::vector<RequestView> out(kMaxCount);
  static std::vector<RequestView> few(kFewEntries);
  const auto p = parse_requests(in, out);
  FUZZ_CHECK(parser_reason(p.drop) && p.drop != Drop::bad_control);
  check_few(p, parse_requests(in, few));
  if (p.drop != Drop::none) {
    FUZZ_CHECK(p.count == 0);
    return;
  }
  FUZZ_CHECK(p.count == p.header.count && p.count >= 1 && p.count <= kMaxCount);
  FUZZ_CHECK(p.header.payload_bytes == in.size() - kHdr);
  std::vector<std::byte> want(in.begin(), in.end());  // the input, flags zeroed
  std::size_t off = kHdr;
  for (std::size_t i = 0; i < p.count; ++i) {
    const RequestView& v = out[i];
    FUZZ_CHECK(inside(in, v.key) && inside(in, v.value));
    FUZZ_CHECK(v.key.size() == v.h.key_len && v.value.size() == v.h.value_len);
    FUZZ_CHECK(reinterpret_cast<const std::byte*>(v.key.data()) ==
               in.data() + off + sizeof(RequestHeader));
    FUZZ_CHECK(v.key.data() + v.key.size() == v.value.data());
    zero(want, off + 1, 1);  // RequestHeader.flags
    off += sizeof(RequestHeader) + v.key.size() + v.value.size();
    if (check_request(v) == Status::ok) {
      FUZZ_CHECK(valid_opcode(static_cast<std::uint8_t>(v.h.op)) && v.h.flags == 0);
      FUZZ_CHECK(v.h.key_len >= 1 && v.h.key_len <= kMaxKeyBytes);
      FUZZ_CHECK(v.h.op == Opcode::set || v.h.value_len == 0);
      FUZZ_CHECK(v.h.key_hash == key_hash(v.key));
    } else {
      FUZZ_CHECK(check_request(v) == Status::malformed);
    }
  }
  FUZZ_CHECK(off == in.size());
  if (in.size() > kMaxDatagram) return;  // the writer never builds more than one UDP payload
  std::vector<std::byte> buf(in.size());
  RequestWriter w(buf, p.header.client_id);
  for (std::size_t i = 0; i < p.count; ++i) {
    const RequestView& v = out[i];
    FUZZ_CHECK(w.add(v.h.op, v.h.key_hash, v.h.request_id, v.h.timestamp, v.key, v.value));
  }
  FUZZ_CHECK(w.room() == 0);
  FUZZ_CHECK(w.finish() == in.size());
  FUZZ_CHECK(buf == want);
}

void responses(std::span<const std::byte> in) {
  static std::vector<ResponseView> out(kMaxCount);
  static std::vector<ResponseView> few(kFewEntries);
  const auto p = parse_responses(in, out);
  FUZZ_CHECK(parser_reason(p.drop) && p.drop != Drop::bad_control);
  check_few(p, parse_responses(in, few));
  if (p.drop != Drop::none) {
    FUZZ_CHECK(p.count == 0);
    return;
  }
  FUZZ_CHECK(p.count == p.header.count && p.count >= 1 && p.count <= kMaxCount);
  std::vector<std::byte> want(in.begin(), in.end());  // the input, reserved zeroed
  std::size_t off = kHdr;
  for (std::size_t i = 0; i < p.count; ++i) {
    const ResponseView& v = out[i];
    FUZZ_CHECK(inside(in, v.value) && v.value.size() == v.h.value_len);
    FUZZ_CHECK(reinterpret_cast<const std::byte*>(v.value.data()) ==
               in.data() + off + sizeof(ResponseHeader));
    zero(want, off + 2, 2);  // ResponseHeader.reserved
    off += sizeof(ResponseHeader) + v.value.size();
  }
  FUZZ_CHECK(off == in.size());
  if (in.size() > kMaxDatagram) return;
  std::vector<std::byte> buf(in.size());
  ResponseWriter w(buf, p.header.client_id);
  for (std::size_t i = 0; i < p.count; ++i) {
    const ResponseView& v = out[i];
    FUZZ_CHECK(w.add(v.h.status, v.h.op, v.h.request_id, v.h.timestamp, v.value));
  }
  FUZZ_CHECK(w.finish() == in.size());
  FUZZ_CHECK(buf == want);
}

// Control layout: DatagramHeader, then cmd (1 B), 3 reserved bytes, body_bytes (4 B), body.
constexpr std::size_t kPrefixReserved = kHdr + 1;
constexpr std::size_t kBody = kHdr + 8;
constexpr std::size_t kHelloReserved = kBody + 10;

void control(std::span<const std::byte> in) {
  const ControlRequest rq = parse_control_request(in);
  FUZZ_CHECK(parser_reason(rq.drop));
  if (rq.drop == Drop::none) {
    FUZZ_CHECK(in.size() == kBody && rq.header.count == 0);
    FUZZ_CHECK(rq.cmd == Command::hello || rq.cmd == Command::stats);
    std::vector<std::byte> want(in.begin(), in.end());
    zero(want, kPrefixReserved, 3);
    std::vector<std::byte> buf(kBody);
    FUZZ_CHECK(encode_control_request(buf, rq.cmd, rq.header.client_id) == kBody);
    FUZZ_CHECK(buf == want);
  }

  const ControlResponse rs = parse_control_response(in);
  FUZZ_CHECK(parser_reason(rs.drop));
  if (rs.drop != Drop::none) return;
  FUZZ_CHECK(in.size() >= kBody && rs.header.count == 0);
  std::vector<std::byte> want(in.begin(), in.end());
  zero(want, kPrefixReserved, 3);
  std::vector<std::byte> buf(in.size());
  if (rs.cmd == Command::stats) {
    FUZZ_CHECK(rs.text.size() == in.size() - kBody);
    FUZZ_CHECK(encode_stats(buf, rs.header.client_id, rs.text) == in.size());
  } else {
    FUZZ_CHECK(rs.cmd == Command::hello);
    FUZZ_CHECK(rs.map.validate().empty());
    FUZZ_CHECK(in.size() >= kHelloReserved + 2);
    zero(want, kHelloReserved, 2);
    FUZZ_CHECK(encode_hello(buf, rs.header.client_id, rs.map) == in.size());
    // Every hash routes to a listed port.
    const std::uint64_t hash = in.size() >= 8 ? load<std::uint64_t>(in.data()) : 0;
    FUZZ_CHECK(rs.map.port_index_for(hash) < rs.map.ports.size());
  }
  FUZZ_CHECK(buf == want);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::byte> in(reinterpret_cast<const std::byte*>(data), size);
  requests(in);
  responses(in);
  control(in);
  return 0;
}
