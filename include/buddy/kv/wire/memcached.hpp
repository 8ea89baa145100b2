// The memcached text and meta protocols (docs/memcached.md): a parser of one command at a time
// from the front of a connection's byte buffer, and the response writers. Pure functions over
// byte buffers, no sockets and no store: the front end (kv/serving/memcached_front_end.hpp)
// feeds them what a TCP connection received and sends what they write.
//
// parse() never reads past the buffer and never needs more than max_line bytes of buffered line:
// a line with no newline within max_line bytes answers close. A data block above max_value is
// not buffered either: the result says how many bytes to discard (swallow) as they arrive.
// Error lines are memcached 1.6's own, byte for byte.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace buddy::kv::wire::mc {

inline constexpr std::size_t kMaxKey = 250;    // memcached's KEY_MAX_LENGTH
inline constexpr std::size_t kMaxOpaque = 32;  // meta O token
inline constexpr std::size_t kMaxTokens = 24;  // tokens of a non-get line, as memcached
inline constexpr std::size_t kDefaultMaxLine = 65536;

enum class Op : std::uint8_t {
  get,
  gets,
  gat,
  gats,
  set,
  add,
  replace,
  append,
  prepend,
  cas,
  del,
  incr,
  decr,
  touch,
  version,
  stats,
  quit,
  flush_all,
  verbosity,
  mg,
  ms,
  md,
  ma,
  mn,
};
inline constexpr std::size_t kOps = 24;
inline constexpr std::array<std::string_view, kOps> kOpNames{
    "get",     "gets",      "gat",       "gats", "set",  "add",   "replace", "append",
    "prepend", "cas",       "delete",    "incr", "decr", "touch", "version", "stats",
    "quit",    "flush_all", "verbosity", "mg",   "ms",   "md",    "ma",      "mn"};

// Why a command line was refused (counted by the front end; reply is the line sent back).
enum class Error : std::uint8_t {
  none = 0,
  unknown_command,  // ERROR
  bad_format,       // CLIENT_ERROR bad command line format (also bad numbers, wrong arity)
  key_too_long,     // CLIENT_ERROR bad command line format (a key over 250 bytes)
  bad_data_chunk,   // CLIENT_ERROR bad data chunk (the data block not followed by \r\n)
  too_large,        // SERVER_ERROR object too large for cache (data discarded)
  line_too_long,    // no newline within max_line bytes: the connection is closed
  invalid_flag,     // CLIENT_ERROR invalid flag (meta), also a bad meta mode or opaque
  bad_number,       // CLIENT_ERROR invalid numeric delta / exptime argument
};
inline constexpr std::size_t kErrors = 9;
inline constexpr std::array<std::string_view, kErrors> kErrorNames{
    "",          "unknown_command", "bad_format",   "key_too_long", "bad_data_chunk",
    "too_large", "line_too_long",   "invalid_flag", "bad_number"};

// The flags of one meta command as given. ret: the return flags (k O c f s t) in request order,
// which is the order the answer echoes them in.
struct Meta {
  std::array<char, kMaxTokens> ret{};
  std::uint8_t nret = 0;
  bool v = false, q = false;
  bool has_ttl = false, has_cas = false, has_flags = false, has_vivify = false;
  std::int64_t ttl = 0;       // T
  std::uint64_t compare = 0;  // C
  std::uint32_t flags = 0;    // F
  std::int64_t vivify = 0;    // N (ma: create with this ttl on a miss)
  std::uint64_t initial = 0;  // J (ma)
  std::uint64_t delta = 1;    // D (ma)
  char mode = 0;              // M, upper case: ms S E A P R; ma I (incr) D (decr)
  std::string_view opaque;    // O
};

struct Command {
  Op op = Op::get;
  std::vector<std::string_view> keys;  // get family: every key; others: keys[0] (if any)
  std::uint32_t flags = 0;
  std::int64_t exptime = 0;  // storage, touch, gat, flush_all delay
  std::uint64_t cas = 0;     // cas command's compare value
  std::uint64_t delta = 0;   // incr/decr
  std::string_view data;     // storage commands: the data block (without \r\n)
  bool noreply = false;
  Meta meta;

  std::string_view key() const { return keys.empty() ? std::string_view{} : keys[0]; }
};

struct Limits {
  std::size_t max_line = kDefaultMaxLine;  // bytes of a command line without its newline
  std::size_t max_value = 1u << 20;        // bytes of a data block
};

struct Result {
  enum class Kind : std::uint8_t { command, need_more, error, close };
  Kind kind = Kind::need_more;
  std::size_t consumed = 0;  // bytes of the buffer this command (or error) took
  std::size_t swallow = 0;   // error: bytes to discard after those, buffered or not yet arrived
  Error error = Error::none;
  std::string_view reply;   // error: the line to answer (with \r\n)
  bool invalidate = false;  // error too_large on set/ms: memcached drops the old item (key())
};

// Parses the command at the front of buf into cmd (its views point into buf). need_more: nothing
// consumed, call again with more bytes. close: the connection must be closed (line_too_long, or
// quit, which is a command).
Result parse(std::string_view buf, const Limits& lim, Command& cmd);

// Whether the command only reads the store (get family, mg without T) or also writes it.
bool reads_only(const Command& c) noexcept;

// Numbers as memcached reads them: decimal digits only (signed: an optional '-'), no overflow.
bool parse_u64(std::string_view s, std::uint64_t& out) noexcept;
bool parse_i64(std::string_view s, std::int64_t& out) noexcept;
// A stored value as incr/decr reads it (strtoull: leading spaces, digits, then the end or a
// space). False: "non-numeric value".
bool parse_counter(std::string_view v, std::uint64_t& out) noexcept;
// The value incr/decr stores: the new number, padded with spaces to the old length when shorter
// (memcached rewrites in place).
std::string counter_value(std::uint64_t v, std::size_t old_len);

// What an answer tells about an item.
struct ItemInfo {
  std::string_view key;
  std::uint32_t flags = 0;
  std::uint64_t cas = 0;
  std::int64_t ttl = -1;  // seconds left; -1: never expires
  std::size_t size = 0;
};

// Response writers: append to out.
void write_value(std::string& out, std::string_view key, std::uint32_t flags,
                 std::string_view data);  // VALUE key flags bytes\r\ndata\r\n
void write_value_cas(std::string& out, std::string_view key, std::uint32_t flags,
                     std::string_view data, std::uint64_t cas);
void write_line(std::string& out, std::string_view line);  // line\r\n
// A meta answer: code ("VA", "HD", "EN", "NF", "NS", "EX"), the size when code is VA, then the
// return flags m asked for, in its order; then data\r\n for VA.
void write_meta(std::string& out, std::string_view code, const Meta& m, const ItemInfo& it,
                std::string_view data = {});

}  // namespace buddy::kv::wire::mc
