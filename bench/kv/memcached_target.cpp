// buddykv-bench's memcached target.
//
// Protocol. Default: memcached's meta protocol, one command per request, no quiet mode,
// pipelined:
//   GET  "mg <key> v\r\n"                  -> "VA <len>\r\n<data>\r\n" | "EN\r\n"
//   SET  "ms <key> <len>\r\n<data>\r\n"    -> "HD\r\n" | "NS\r\n" | "SERVER_ERROR ...\r\n"
// Everything submitted between two poll() calls is written with one send(); answers are parsed
// as a stream and matched to requests in order (memcached answers the commands of one
// connection in the order it read them). Why not the alternatives:
// - The classic text protocol (MemcachedProtocol::ascii here) batches GETs as
//   "get k1 k2 ... kN\r\n", answered "VALUE <key> <flags> <len>\r\n<data>\r\n" per hit and one
//   "END\r\n"; a miss is a key the answers skip. Every SET ends the current "get" line (order
//   must be kept: a GET after a SET of its key must see the new value), so YCSB-B's 5% SETs cut
//   the lines to ~20 keys, and every hit echoes its key and flags. Measured here (2 cores,
//   memcached -t 1 -R 1000 on cpu 0, client on cpu 1, 100k keys, Zipf 0.99, window 512,
//   alternating runs, memcached at 100% cpu in all): YCSB-B meta 1.0-1.3 Mops vs ascii
//   0.59-0.72 (multiget 100) and 0.84-1.03 (multiget 500); YCSB-A meta 0.71-1.13 vs ascii 0.43;
//   YCSB-C (no SETs, long lines) meta 1.23-1.27 vs ascii 1.27. It is kept for memcached < 1.6.
// - Quiet mode ("mg ... q" / "ms ... q" closed by "mn") drops only EN and HD lines. Errors are
//   still sent but carry no opaque, so after a quiet batch an error could belong to any request
//   that got no answer: the target could not say which GET or SET failed. With every request
//   answered, order alone matches answers exactly, and on YCSB with preloaded keys almost every
//   GET is a hit, whose VA line quiet mode sends too: it would save only the SETs' "HD\r\n".
// - Opaques ("O<n>") cost bytes each way and parsing on both sides; in-order matching plus the
//   check that every answer has the kind its request expects (VA/EN for a GET, HD/NS/... for a
//   SET, any other or malformed line fails the connection) catches a desynchronised stream.
// - memcached's -R (requests per connection per event, default 20) is a server setting:
//   bench/kv_vs_memcached.sh raises it to 1000 (YCSB-B meta 1.0-1.4 Mops with 20, 1.1-2.5 with
//   1000 on this machine).
//
// The socket, pipelining, buffering and timeout handling are shared with the Redis target:
// pipelined_target.hpp.
#include "memcached_target.hpp"

#include <charconv>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "pipelined_target.hpp"

namespace buddy::bench {
namespace {

constexpr std::size_t kMaxKey = 250;  // memcached's KEY_MAX_LENGTH
constexpr std::string_view kBadKey =
    "key not valid for memcached (1..250 bytes, no space or control character)";

bool valid_key(std::string_view k) {
  if (k.empty() || k.size() > kMaxKey) return false;
  for (const char c : k) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) return false;
  }
  return true;
}

bool starts_with(std::string_view s, std::string_view p) {
  return s.substr(0, p.size()) == p;
}

// First token of an answer line is the code; "HD", "EN", "HD O12", ...
bool code_is(std::string_view line, std::string_view code) {
  return starts_with(line, code) && (line.size() == code.size() || line[code.size()] == ' ');
}

bool is_error_line(std::string_view line) {
  return line == "ERROR" || starts_with(line, "SERVER_ERROR") || starts_with(line, "CLIENT_ERROR");
}

class MemcachedTarget final : public PipelinedTarget {
 public:
  MemcachedTarget(const MemcachedOptions& o, Socket s)
      : PipelinedTarget("memcached", o.host, o.port, std::move(s), o.window, o.timeout), o_(o) {}

 private:
  std::string_view reject(std::string_view key) const override {
    return valid_key(key) ? std::string_view{} : kBadKey;
  }

  void encode(OpKind op, std::string_view key, std::string_view value, Pending& p,
              std::size_t idx) override {
    if (o_.protocol == MemcachedProtocol::meta) {
      if (op == OpKind::get) {
        out_ += "mg ";
        out_ += key;
        out_ += " v\r\n";
      } else {
        out_ += "ms ";
        out_ += key;
        out_ += ' ';
        append_number(out_, value.size());
        out_ += "\r\n";
        out_ += value;
        out_ += "\r\n";
      }
    } else if (op == OpKind::get) {
      out_ += open_get_ == 0 ? "get " : " ";
      out_ += key;
      p.key.assign(key);
      p.last_in_get = false;
      last_get_ = idx;
      if (++open_get_ >= o_.multiget) finish_batch();
    } else {
      finish_batch();
      out_ += "set ";
      out_ += key;
      out_ += " 0 0 ";
      append_number(out_, value.size());
      out_ += "\r\n";
      out_ += value;
      out_ += "\r\n";
    }
  }

  void finish_batch() override {  // ends the "get" line being written
    if (open_get_ == 0) return;
    out_ += "\r\n";
    slot(last_get_).last_in_get = true;
    open_get_ = 0;
  }

  void reset_protocol() override {
    open_get_ = 0;
    await_end_ = false;
  }

  std::size_t parse(std::span<Done> out) override {
    std::size_t n = 0;
    while (n < out.size() && (pending() > 0 || await_end_)) {
      std::string_view line;
      std::size_t used = 0;
      if (!next_line(line, used)) break;
      std::string_view data;
      bool has_data = false;
      auto take = [&](std::size_t len) {
        has_data = take_data(line, len, used, data);
        return has_data;
      };

      Done& d = out[n];
      d = Done{};
      bool take_line = true;  // the line (and data) belongs to this answer
      if (await_end_) {       // ascii: the last key of a "get" line was a hit, "END" follows
        if (line != "END") {
          protocol_error(line, "expected END");
          break;
        }
        await_end_ = false;
        consume(used);
        continue;
      }
      const Pending& p = front();
      if (o_.protocol == MemcachedProtocol::meta) {
        if (p.op == OpKind::get && starts_with(line, "VA ")) {
          std::string_view tok = line.substr(3);
          tok = tok.substr(0, tok.find(' '));
          std::size_t len = 0;
          if (!parse_size(tok, len)) {
            protocol_error(line, "bad length");
            break;
          }
          if (!take(len)) break;
          pop(d, Outcome::ok);
        } else if (p.op == OpKind::get && code_is(line, "EN")) {
          pop(d, Outcome::not_found);
        } else if (p.op == OpKind::set && code_is(line, "HD")) {
          pop(d, Outcome::ok);
        } else if (p.op == OpKind::set && code_is(line, "NS")) {
          pop(d, Outcome::error);
          d.detail = "NOT_STORED";
        } else if (p.op == OpKind::set && (code_is(line, "EX") || code_is(line, "NF"))) {
          pop(d, Outcome::error);
          d.detail = line;
        } else if (is_error_line(line)) {
          pop(d, Outcome::error);
          d.detail = line;
        } else {
          protocol_error(line, p.op == OpKind::get ? "for a GET" : "for a SET");
          break;
        }
      } else if (p.op == OpKind::get) {
        // Answers to one "get k1 ... kN" line: VALUE for each hit, in order, then END.
        if (starts_with(line, "VALUE ")) {
          std::string_view rest = line.substr(6);
          const std::string_view key = rest.substr(0, rest.find(' '));
          const std::size_t sp = rest.rfind(' ');
          std::size_t len = 0;
          if (key.size() == rest.size() || !parse_size(rest.substr(sp + 1), len)) {
            protocol_error(line, "bad VALUE line");
            break;
          }
          if (key != p.key) {  // p missed: VALUE belongs to a later key of the same line
            if (p.last_in_get) {
              protocol_error(line, "VALUE for a key not asked");
              break;
            }
            pop(d, Outcome::not_found);
            take_line = false;
          } else {
            if (!take(len)) break;
            if (p.last_in_get) await_end_ = true;
            pop(d, Outcome::ok);
          }
        } else if (line == "END" || is_error_line(line)) {
          // END: every key of the line not answered yet missed; an error fails them all.
          const bool last = p.last_in_get;
          pop(d, line == "END" ? Outcome::not_found : Outcome::error);
          if (line != "END") d.detail = line;
          take_line = last;
        } else {
          protocol_error(line, "for a GET");
          break;
        }
      } else {
        if (line == "STORED") {
          pop(d, Outcome::ok);
        } else if (line == "NOT_STORED" || line == "EXISTS" || line == "NOT_FOUND" ||
                   is_error_line(line)) {
          pop(d, Outcome::error);
          d.detail = line;
        } else {
          protocol_error(line, "for a SET");
          break;
        }
      }
      if (has_data) d.value = data;
      if (take_line) consume(used);
      ++n;
    }
    return n;
  }

  MemcachedOptions o_;
  std::size_t open_get_ = 0;  // ascii: keys on the "get" line being written
  std::size_t last_get_ = 0;  // ascii: ring index of its last key
  bool await_end_ = false;
};

}  // namespace

std::unique_ptr<Target> make_memcached_target(const MemcachedOptions& o) {
  const std::string prefix =
      "cannot connect to memcached at " + o.host + ":" + std::to_string(o.port) + ": ";
  check_window(o.window, prefix);
  if (o.multiget < 1 || o.multiget > 1000) {
    throw std::runtime_error(prefix + "multiget must be 1..1000 (got " +
                             std::to_string(o.multiget) + ")");
  }
  Socket s = connect_tcp(o.host, o.port, o.connect_timeout, prefix);
  const std::string v =
      handshake(s.get(), "version\r\n", o.connect_timeout, prefix, "not a memcached");
  if (!starts_with(v, "VERSION ")) {
    throw std::runtime_error(prefix + "not a memcached (answered \"" + printable(v) +
                             "\" to \"version\")");
  }
  if (o.protocol == MemcachedProtocol::meta) {
    unsigned major = 0, minor = 0;
    const std::string_view num = std::string_view(v).substr(8);
    const auto r1 = std::from_chars(num.data(), num.data() + num.size(), major);
    if (r1.ec == std::errc() && r1.ptr < num.data() + num.size() && *r1.ptr == '.') {
      std::from_chars(r1.ptr + 1, num.data() + num.size(), minor);
    }
    if (major < 1 || (major == 1 && minor < 6)) {
      throw std::runtime_error(prefix + "memcached " + printable(num) +
                               " has no meta protocol (1.6 or later); use the ascii protocol");
    }
  }
  return std::make_unique<MemcachedTarget>(o, std::move(s));
}

}  // namespace buddy::bench
