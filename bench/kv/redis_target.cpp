// buddykv-bench's Redis target (redis_target.hpp). No quiet mode and no MULTI: every request is
// answered, in order, so order alone matches answers to requests, and an error belongs to the
// request it answers.
#include "redis_target.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include "pipelined_target.hpp"

namespace buddy::bench {
namespace {

class RedisTarget final : public PipelinedTarget {
 public:
  RedisTarget(const RedisOptions& o, Socket s)
      : PipelinedTarget("redis", o.host, o.port, std::move(s), o.window, o.timeout) {}

 private:
  std::string_view reject(std::string_view) const override { return {}; }

  void bulk(std::string_view s) {
    out_ += '$';
    append_number(out_, s.size());
    out_ += "\r\n";
    out_ += s;
    out_ += "\r\n";
  }

  void encode(OpKind op, std::string_view key, std::string_view value, Pending&,
              std::size_t) override {
    if (op == OpKind::get) {
      out_ += "*2\r\n$3\r\nGET\r\n";
      bulk(key);
    } else {
      out_ += "*3\r\n$3\r\nSET\r\n";
      bulk(key);
      bulk(value);
    }
  }

  std::size_t parse(std::span<Done> out) override {
    std::size_t n = 0;
    while (n < out.size() && pending() > 0) {
      std::string_view line;
      std::size_t used = 0;
      if (!next_line(line, used)) break;
      Done& d = out[n];
      d = Done{};
      const Pending& p = front();
      if (!line.empty() && line[0] == '-') {
        pop(d, Outcome::error);
        d.detail = line.substr(1);
      } else if (p.op == OpKind::set) {
        if (line != "+OK") {
          protocol_error(line, "for a SET");
          break;
        }
        pop(d, Outcome::ok);
      } else if (line == "$-1" || line == "_") {  // nil (RESP2, RESP3)
        pop(d, Outcome::not_found);
      } else if (line.size() > 1 && line[0] == '$') {
        std::size_t len = 0;
        if (!parse_size(line.substr(1), len)) {
          protocol_error(line, "bad length");
          break;
        }
        std::string_view data;
        if (!take_data(line, len, used, data)) break;
        pop(d, Outcome::ok);
        d.value = data;
      } else {
        protocol_error(line, "for a GET");
        break;
      }
      consume(used);
      ++n;
    }
    return n;
  }
};

}  // namespace

std::unique_ptr<Target> make_redis_target(const RedisOptions& o) {
  const std::string prefix =
      "cannot connect to redis at " + o.host + ":" + std::to_string(o.port) + ": ";
  check_window(o.window, prefix);
  Socket s = connect_tcp(o.host, o.port, o.connect_timeout, prefix);
  const std::string v = handshake(s.get(), "PING\r\n", o.connect_timeout, prefix, "not a Redis");
  if (v != "+PONG") {
    throw std::runtime_error(prefix + "not a usable Redis (answered \"" + printable(v) +
                             "\" to \"PING\")");
  }
  return std::make_unique<RedisTarget>(o, std::move(s));
}

}  // namespace buddy::bench
