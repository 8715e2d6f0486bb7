#include "engine/model/json_fields.h"

namespace ember::json {

using simdjson::dom::element;
using simdjson::dom::element_type;

std::string_view type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY: return "array";
    case element_type::OBJECT: return "object";
    case element_type::INT64:
    case element_type::UINT64: return "integer";
    case element_type::DOUBLE: return "number";
    case element_type::STRING: return "string";
    case element_type::BOOL: return "bool";
    case element_type::NULL_VALUE: return "null";
  }
  return "?";
}

std::optional<int64_t> as_int(element e) {
  if (e.type() == element_type::INT64) return int64_t(e.get_int64());
  if (e.type() == element_type::UINT64) {
    uint64_t u = e.get_uint64();
    if (u <= uint64_t(INT64_MAX)) return int64_t(u);
  }
  return std::nullopt;
}

std::optional<element> Fields::find(std::string_view key) const {
  element e;
  if (obj_.at_key(key).get(e) != simdjson::SUCCESS) return std::nullopt;
  if (e.is_null()) return std::nullopt;
  return e;
}

void Fields::wrong_type(std::string_view key, std::string_view want, element got) const {
  fail("{}: {} must be {}, got {}", src_, key, want, type_name(got.type()));
}

std::optional<int64_t> Fields::opt_int(std::string_view key) const {
  auto e = find(key);
  if (!e) return std::nullopt;
  auto v = as_int(*e);
  if (!v) wrong_type(key, "an integer", *e);
  return v;
}

std::optional<double> Fields::opt_number(std::string_view key) const {
  auto e = find(key);
  if (!e) return std::nullopt;
  switch (e->type()) {
    case element_type::DOUBLE: return double(e->get_double());
    case element_type::INT64: return double(int64_t(e->get_int64()));
    case element_type::UINT64: return double(uint64_t(e->get_uint64()));
    default: wrong_type(key, "a number", *e);
  }
}

std::optional<bool> Fields::opt_bool(std::string_view key) const {
  auto e = find(key);
  if (!e) return std::nullopt;
  if (e->type() != element_type::BOOL) wrong_type(key, "true or false", *e);
  return bool(e->get_bool());
}

std::optional<std::string> Fields::opt_string(std::string_view key) const {
  auto e = find(key);
  if (!e) return std::nullopt;
  if (e->type() != element_type::STRING) wrong_type(key, "a string", *e);
  return std::string(std::string_view(e->get_string()));
}

int64_t Fields::req_int(std::string_view key) const {
  auto v = opt_int(key);
  if (!v) fail("{}: {} is missing", src_, key);
  return *v;
}

}  // namespace ember::json
