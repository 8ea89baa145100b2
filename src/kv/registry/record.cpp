#include "buddy/kv/registry/record.hpp"

#include "buddy/base/json.hpp"
#include "buddy/kv/registry/json_value.hpp"

namespace buddy::kv::registry {

std::string to_json(const ServerRecord& r) {
  base::json::Writer w;
  w.begin_object().member("id", r.id).member("control", r.control);
  w.key("ports").begin_array();
  for (auto p : r.ports) w.value(p);
  w.end_array().member("partitions", r.partitions).key("owner").begin_array();
  for (auto o : r.owner) w.value(o);
  w.end_array().member("design", r.design).member("epoch", r.epoch).member("pid", r.pid);
  if (!r.engine.empty()) w.member("engine", r.engine).member("engine_epoch", r.engine_epoch);
  w.end_object();
  return w.str();
}

std::optional<ServerRecord> parse_record(const std::string& json) {
  const auto v = parse_json(json);
  if (!v || v->kind != JsonValue::Kind::object) return std::nullopt;
  ServerRecord r;
  const JsonValue* id = v->get("id");
  const JsonValue* control = v->get("control");
  if (id == nullptr || !id->integer() || *id->integer() < 0 || control == nullptr ||
      control->kind != JsonValue::Kind::string) {
    return std::nullopt;
  }
  r.id = static_cast<std::uint32_t>(*id->integer());
  r.control = control->str;
  auto ints = [&](const char* name, std::vector<std::uint16_t>& out) {
    if (const JsonValue* a = v->get(name)) {
      for (const JsonValue& x : a->items)
        out.push_back(static_cast<std::uint16_t>(x.integer().value_or(0)));
    }
  };
  ints("ports", r.ports);
  ints("owner", r.owner);
  if (const JsonValue* p = v->get("partitions"))
    r.partitions = static_cast<std::uint32_t>(p->integer().value_or(0));
  if (const JsonValue* d = v->get("design")) r.design = d->str;
  if (const JsonValue* e = v->get("epoch")) r.epoch = e->integer().value_or(0);
  if (const JsonValue* p = v->get("pid")) r.pid = p->integer().value_or(0);
  if (const JsonValue* e = v->get("engine"); e != nullptr && e->kind == JsonValue::Kind::string)
    r.engine = e->str;
  if (const JsonValue* e = v->get("engine_epoch"))
    r.engine_epoch = static_cast<std::uint32_t>(e->integer().value_or(0));
  return r;
}

}  // namespace buddy::kv::registry
