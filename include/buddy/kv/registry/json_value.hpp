// A small JSON reader for what the registry reads: etcd's JSON gateway answers and the server
// records (record.hpp). parse_json() builds a tree; a malformed text gives nullopt, never throws.
//
//   auto v = buddy::kv::registry::parse_json(R"({"kvs":[{"key":"YQ=="}],"count":"1"})");
//   v->get("kvs")->at(0)->get("key")->str;   // "YQ=="
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace buddy::kv::registry {

struct JsonValue {
  enum class Kind { null, boolean, number, string, array, object } kind = Kind::null;
  bool b = false;
  std::string str;  // string: the text; number: its digits as written
  std::vector<JsonValue> items;
  std::map<std::string, JsonValue, std::less<>> members;

  const JsonValue* get(std::string_view k) const;  // object member or nullptr
  const JsonValue* at(std::size_t i) const { return i < items.size() ? &items[i] : nullptr; }
  // A number, or a string of digits (etcd writes 64-bit integers as strings).
  std::optional<std::int64_t> integer() const;
};

std::optional<JsonValue> parse_json(std::string_view text);

// Base64 (RFC 4648, with padding), as etcd's JSON gateway carries keys and values.
std::string base64_encode(std::string_view bytes);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace buddy::kv::registry
