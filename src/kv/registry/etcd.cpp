#include "buddy/kv/registry/etcd.hpp"

#include <curl/curl.h>

#include <charconv>

#include "buddy/base/json.hpp"
#include "buddy/kv/registry/json_value.hpp"

namespace buddy::kv::registry {

namespace {

std::size_t append(char* data, std::size_t size, std::size_t n, void* out) {
  static_cast<std::string*>(out)->append(data, size * n);
  return size * n;
}

bool segment_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

// etcd's "range_end" for every key starting with prefix: the prefix with its last byte + 1.
std::string prefix_end(std::string_view p) {
  std::string e(p);
  while (!e.empty()) {
    if (static_cast<unsigned char>(e.back()) < 0xff) {
      e.back() = static_cast<char>(e.back() + 1);
      return e;
    }
    e.pop_back();
  }
  return std::string(1, '\0');
}

std::int64_t int_of(const JsonValue* v) {
  return v != nullptr ? v->integer().value_or(0) : 0;
}

}  // namespace

std::optional<RegistryUrl> parse_registry_url(const std::string& s, std::string* why) {
  auto bad = [&](const std::string& r) -> std::optional<RegistryUrl> {
    if (why != nullptr) *why = "registry URL '" + s + "': " + r + " (want etcd://HOST:PORT/PREFIX)";
    return std::nullopt;
  };
  constexpr std::string_view kScheme = "etcd://";
  if (!s.starts_with(kScheme)) return bad("not etcd://");
  const std::string rest = s.substr(kScheme.size());
  const auto slash = rest.find('/');
  if (slash == std::string::npos) return bad("no /PREFIX");
  const std::string hostport = rest.substr(0, slash);
  const auto colon = hostport.rfind(':');
  if (colon == std::string::npos || colon == 0) return bad("no HOST:PORT");
  RegistryUrl u;
  u.host = hostport.substr(0, colon);
  const std::string p = hostport.substr(colon + 1);
  unsigned port = 0;
  const auto r = std::from_chars(p.data(), p.data() + p.size(), port);
  if (p.empty() || r.ec != std::errc{} || r.ptr != p.data() + p.size() || port == 0 ||
      port > 65535) {
    return bad("bad port '" + p + "'");
  }
  for (char c : u.host) {
    if (!segment_char(c)) return bad("bad host '" + u.host + "'");
  }
  u.port = static_cast<std::uint16_t>(port);
  u.prefix = rest.substr(slash);
  while (u.prefix.size() > 1 && u.prefix.back() == '/') u.prefix.pop_back();
  if (u.prefix.size() <= 1) return bad("empty PREFIX");
  bool fresh = true;
  for (char c : u.prefix.substr(1)) {
    if (c == '/') {
      if (fresh) return bad("empty segment in PREFIX");
      fresh = true;
    } else if (!segment_char(c)) {
      return bad("PREFIX may hold only letters, digits and . _ - /");
    } else {
      fresh = false;
    }
  }
  return u;
}

Etcd::Etcd(RegistryUrl url, long timeout_ms) : url_(std::move(url)), timeout_ms_(timeout_ms) {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  curl_ = curl_easy_init();
}

Etcd::~Etcd() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

std::string Etcd::post(const char* path, const std::string& body, std::string& reply) {
  const std::string where = "etcd at " + url_.host + ":" + std::to_string(url_.port);
  if (curl_ == nullptr) return where + ": curl_easy_init failed";
  std::lock_guard<std::mutex> l(mu_);
  CURL* c = static_cast<CURL*>(curl_);
  const std::string u = "http://" + url_.host + ":" + std::to_string(url_.port) + path;
  reply.clear();
  curl_easy_reset(c);
  curl_easy_setopt(c, CURLOPT_URL, u.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(body.size()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms_);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  const CURLcode rc = curl_easy_perform(c);
  if (rc != CURLE_OK) return where + ": " + curl_easy_strerror(rc);
  long status = 0;
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) {
    std::string msg = reply.substr(0, 200);
    for (char& ch : msg) {
      if (ch == '\n' || ch == '\r') ch = ' ';
    }
    return where + ": HTTP " + std::to_string(status) + " from " + path + ": " + msg;
  }
  return {};
}

std::string Etcd::grant(std::int64_t ttl_s, std::int64_t& lease) {
  std::string reply;
  base::json::Writer w;
  w.begin_object().member("TTL", std::to_string(ttl_s)).end_object();
  if (std::string e = post("/v3/lease/grant", w.str(), reply); !e.empty()) return e;
  const auto v = parse_json(reply);
  lease = v ? int_of(v->get("ID")) : 0;
  if (lease == 0) return "etcd: lease grant answered without an ID: " + reply.substr(0, 200);
  return {};
}

std::string Etcd::keepalive(std::int64_t lease, std::int64_t& ttl) {
  std::string reply;
  base::json::Writer w;
  w.begin_object().member("ID", std::to_string(lease)).end_object();
  if (std::string e = post("/v3/lease/keepalive", w.str(), reply); !e.empty()) return e;
  // The gateway streams: {"result":{"header":...,"ID":"..","TTL":".."}} (TTL absent: expired).
  const auto v = parse_json(reply);
  const JsonValue* r = v ? v->get("result") : nullptr;
  if (r == nullptr) return "etcd: keepalive answer without a result: " + reply.substr(0, 200);
  ttl = int_of(r->get("TTL"));
  return {};
}

std::string Etcd::revoke(std::int64_t lease) {
  std::string reply;
  base::json::Writer w;
  w.begin_object().member("ID", std::to_string(lease)).end_object();
  return post("/v3/lease/revoke", w.str(), reply);
}

std::string Etcd::put(std::string_view key, std::string_view value, std::int64_t lease) {
  std::string reply;
  base::json::Writer w;
  w.begin_object().member("key", base64_encode(key)).member("value", base64_encode(value));
  if (lease != 0) w.member("lease", std::to_string(lease));
  w.end_object();
  return post("/v3/kv/put", w.str(), reply);
}

std::string Etcd::create(std::string_view key, std::string_view value, std::int64_t lease,
                         bool& created) {
  std::string reply;
  base::json::Writer w;
  w.begin_object();
  w.key("compare").begin_array().begin_object();
  w.member("key", base64_encode(key)).member("result", "EQUAL").member("target", "CREATE");
  w.member("create_revision", "0").end_object().end_array();
  w.key("success").begin_array().begin_object().key("request_put").begin_object();
  w.member("key", base64_encode(key)).member("value", base64_encode(value));
  if (lease != 0) w.member("lease", std::to_string(lease));
  w.end_object().end_object().end_array().end_object();
  if (std::string e = post("/v3/kv/txn", w.str(), reply); !e.empty()) return e;
  const auto v = parse_json(reply);
  if (!v) return "etcd: txn answer is not JSON: " + reply.substr(0, 200);
  const JsonValue* s = v->get("succeeded");
  created = s != nullptr && s->b;
  return {};
}

std::string Etcd::del(std::string_view key) {
  std::string reply;
  base::json::Writer w;
  w.begin_object().member("key", base64_encode(key)).end_object();
  return post("/v3/kv/deleterange", w.str(), reply);
}

std::string Etcd::range_prefix(std::string_view prefix, std::vector<Kv>& out,
                               std::int64_t& revision) {
  std::string reply;
  base::json::Writer w;
  w.begin_object().member("key", base64_encode(prefix));
  w.member("range_end", base64_encode(prefix_end(prefix))).end_object();
  if (std::string e = post("/v3/kv/range", w.str(), reply); !e.empty()) return e;
  const auto v = parse_json(reply);
  if (!v) return "etcd: range answer is not JSON: " + reply.substr(0, 200);
  const JsonValue* h = v->get("header");
  revision = h != nullptr ? int_of(h->get("revision")) : 0;
  out.clear();
  if (const JsonValue* kvs = v->get("kvs")) {
    for (const JsonValue& kv : kvs->items) {
      const JsonValue* k = kv.get("key");
      const JsonValue* val = kv.get("value");
      auto key = k != nullptr ? base64_decode(k->str) : std::nullopt;
      auto value = val != nullptr ? base64_decode(val->str) : std::optional<std::string>("");
      if (!key || !value) continue;  // not ours to read
      out.push_back({std::move(*key), std::move(*value), int_of(kv.get("create_revision")),
                     int_of(kv.get("mod_revision")), int_of(kv.get("lease"))});
    }
  }
  return {};
}

}  // namespace buddy::kv::registry
