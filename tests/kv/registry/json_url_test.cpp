// The registry's pieces that need no etcd: URLs, the JSON reader, base64, server records.
// (Against a real etcd: tests/kv/server/e2e_cluster.sh.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "buddy/kv/registry/etcd.hpp"
#include "buddy/kv/registry/json_value.hpp"
#include "buddy/kv/registry/record.hpp"

namespace buddy::kv::registry {
namespace {

TEST(RegistryUrl, Parses) {
  std::string why;
  const auto u = parse_registry_url("etcd://127.0.0.1:2379/buddykv/test-1/", &why);
  ASSERT_TRUE(u) << why;
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 2379);
  EXPECT_EQ(u->prefix, "/buddykv/test-1");
  EXPECT_EQ(u->key_of(3), "/buddykv/test-1/servers/3");
  EXPECT_EQ(u->text(), "etcd://127.0.0.1:2379/buddykv/test-1");
}

TEST(RegistryUrl, RefusesInOneLine) {
  for (const char* bad : {"http://127.0.0.1:2379/x", "etcd://127.0.0.1:2379", "etcd://127.0.0.1/x",
                          "etcd://127.0.0.1:0/x", "etcd://127.0.0.1:99999/x", "etcd://:2379/x",
                          "etcd://127.0.0.1:2379/", "etcd://127.0.0.1:2379/a//b",
                          "etcd://127.0.0.1:2379/a b", "etcd://127.0.0.1:12ab/x", ""}) {
    std::string why;
    EXPECT_FALSE(parse_registry_url(bad, &why)) << bad;
    EXPECT_NE(why.find("etcd://HOST:PORT/PREFIX"), std::string::npos) << bad << ": " << why;
    EXPECT_EQ(why.find('\n'), std::string::npos);
  }
}

TEST(Json, ReadsEtcdAnswers) {
  const auto v = parse_json(
      R"({"header":{"cluster_id":"14841639068965178418","revision":"12"},)"
      R"("kvs":[{"key":"L2Evc2VydmVycy8w","create_revision":"5","value":"e30=","lease":"7"}],)"
      R"("count":"1","more":false,"x":[1,-2.5e3,null,true,"a\"\u0041"]})");
  ASSERT_TRUE(v);
  EXPECT_EQ(v->get("header")->get("revision")->integer(), 12);
  const JsonValue* kv = v->get("kvs")->at(0);
  EXPECT_EQ(base64_decode(kv->get("key")->str), "/a/servers/0");
  EXPECT_EQ(base64_decode(kv->get("value")->str), "{}");
  EXPECT_EQ(kv->get("lease")->integer(), 7);
  EXPECT_FALSE(v->get("more")->b);
  EXPECT_EQ(v->get("x")->at(1)->str, "-2.5e3");
  EXPECT_EQ(v->get("x")->at(4)->str, "a\"A");
  EXPECT_EQ(v->get("missing"), nullptr);
}

TEST(Json, RefusesMalformed) {
  for (const char* bad :
       {"", "{", "{\"a\"}", "{\"a\":1,}", "[1 2]", "\"abc", "{} x", "tru",
        "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]"}) {
    EXPECT_FALSE(parse_json(bad)) << bad;
  }
}

TEST(Base64, RoundTrips) {
  for (const std::string& s : std::vector<std::string>{
           "", "a", "ab", "abc", "abcd", "/buddykv/servers/12", std::string("\0\xff\x10", 3)}) {
    EXPECT_EQ(base64_decode(base64_encode(s)), s);
  }
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_FALSE(base64_decode("Zm9"));
  EXPECT_FALSE(base64_decode("Z=9v"));
  EXPECT_FALSE(base64_decode("Zm9*"));
}

TEST(Record, RoundTrips) {
  ServerRecord r;
  r.id = 7;
  r.control = "127.0.0.1:7000";
  r.ports = {7001, 7002};
  r.partitions = 4;
  r.owner = {0, 0, 1, 1};
  r.design = "sav";
  r.epoch = 1764759600123;
  r.pid = 42;
  const auto back = parse_record(to_json(r));
  ASSERT_TRUE(back);
  EXPECT_EQ(back->id, 7u);
  EXPECT_EQ(back->control, r.control);
  EXPECT_EQ(back->ports, r.ports);
  EXPECT_EQ(back->owner, r.owner);
  EXPECT_EQ(back->partitions, 4u);
  EXPECT_EQ(back->design, "sav");
  EXPECT_EQ(back->epoch, r.epoch);
  EXPECT_EQ(back->pid, 42);
  EXPECT_EQ(back->engine, "");  // no engine: no member, and the server's ports all answer
  EXPECT_TRUE(back->engine_serving());
  EXPECT_EQ(to_json(r).find("engine"), std::string::npos);
  EXPECT_FALSE(parse_record("{\"control\":\"x\"}"));
  EXPECT_FALSE(parse_record("{\"id\":-1,\"control\":\"x\"}"));
  EXPECT_FALSE(parse_record("not json"));
}

TEST(Record, CarriesTheEngineState) {
  ServerRecord r;
  r.id = 1;
  r.control = "127.0.0.1:7000";
  r.design = "sav";
  for (const char* state : {"up", "restarting", "lost"}) {
    r.engine = state;
    r.engine_epoch = 3;
    const auto back = parse_record(to_json(r));
    ASSERT_TRUE(back);
    EXPECT_EQ(back->engine, state);
    EXPECT_EQ(back->engine_epoch, 3u);
    EXPECT_EQ(back->engine_serving(), r.engine == "up");
  }
  const auto old = parse_record(R"({"id":2,"control":"h:1","engine":7})");  // not a string
  ASSERT_TRUE(old);
  EXPECT_EQ(old->engine, "");
  EXPECT_EQ(old->engine_epoch, 0u);
}

}  // namespace
}  // namespace buddy::kv::registry
