// Writes the fuzzer's seed corpus (fuzz/corpus/): a few small valid datagrams of every kind,
// built with the real writers. `--check DIR` instead verifies that DIR holds exactly these bytes,
// so a format change that leaves the committed seeds stale fails a test.
//   buddykv-wire-corpus DIR          write the seeds into DIR
//   buddykv-wire-corpus --check DIR  compare; exit 1 with a one-line reason on a difference
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "buddy/kv/wire/control.hpp"
#include "buddy/kv/wire/writer.hpp"

namespace {

using namespace buddy::kv::wire;
using Bytes = std::vector<std::byte>;

Bytes requests(std::vector<std::pair<Opcode, std::pair<std::string_view, std::string_view>>> rs) {
  Bytes b(kDefaultDatagram);
  RequestWriter w(b, 7);
  std::uint64_t id = 1;
  for (const auto& [op, kv] : rs) {
    w.add(op, key_hash(kv.first), id, 1000 * id, kv.first, kv.second);
    ++id;
  }
  b.resize(w.finish());
  return b;
}

std::vector<std::pair<std::string, Bytes>> seeds() {
  std::vector<std::pair<std::string, Bytes>> out;
  // The example of docs/protocol.md: one GET of "k1".
  out.emplace_back("req-get-k1", requests({{Opcode::get, {"k1", ""}}}));
  out.emplace_back("req-mixed", requests({{Opcode::set, {"user:1", "alice"}},
                                          {Opcode::get, {"user:1", ""}},
                                          {Opcode::del, {"user:2", ""}}}));
  {
    Bytes b(kDefaultDatagram);
    ResponseWriter w(b, 7);
    w.add(Status::ok, Opcode::get, 1, 1000, "alice");
    w.add(Status::not_found, Opcode::get, 2, 2000);
    w.add(Status::ok, Opcode::set, 3, 3000);
    b.resize(w.finish());
    out.emplace_back("resp-mixed", b);
  }
  for (Command c : {Command::hello, Command::stats}) {
    Bytes b(64);
    b.resize(encode_control_request(b, c, 7));
    out.emplace_back(c == Command::hello ? "ctl-req-hello" : "ctl-req-stats", b);
  }
  {
    PartitionMap m;
    m.partitions = 4;
    m.max_datagram = kDefaultDatagram;
    m.ports = {7001, 7002};
    m.owner = {0, 1, 0, 1};
    Bytes b(256);
    b.resize(encode_hello(b, 7, m));
    out.emplace_back("ctl-resp-hello", b);
  }
  {
    Bytes b(256);
    b.resize(encode_stats(b, 7, R"({"gets":3,"sets":1})"));
    out.emplace_back("ctl-resp-stats", b);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  const bool check = argc == 3 && std::string_view(argv[1]) == "--check";
  if (argc != 2 && !check) {
    std::fprintf(stderr, "usage: buddykv-wire-corpus [--check] DIR\n");
    return 2;
  }
  const std::string dir = argv[argc - 1];
  for (const auto& [name, bytes] : seeds()) {
    const std::string path = dir + "/" + name;
    if (check) {
      std::ifstream f(path, std::ios::binary);
      const std::string got((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      if (!f.is_open() ||
          got != std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size())) {
        std::fprintf(stderr, "buddykv-wire-corpus: %s is missing or stale (regenerate it)\n",
                     path.c_str());
        return 1;
      }
    } else {
      std::ofstream f(path, std::ios::binary | std::ios::trunc);
      f.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
      if (!f) {
        std::fprintf(stderr, "buddykv-wire-corpus: cannot write %s\n", path.c_str());
        return 1;
      }
    }
  }
  return 0;
}
