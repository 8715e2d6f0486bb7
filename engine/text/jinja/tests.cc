// Jinja's built-in tests ({% if x is string %}), with jinja2 3.1's definitions.
#include <unordered_map>

#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/error.h"
#include "engine/text/jinja/parser.h"
#include "engine/text/jinja/pystr.h"

namespace ember::jinja {
namespace {

const Value& arg0(const CallArgs& a, const char* test) {
  const Value* v = a.get(0, "other");
  if (!v) runtime_error(fmt::format("{}() missing 1 required positional argument", test));
  return *v;
}

bool t_defined(const Value& v, CallArgs&) { return !v.is_undefined(); }
bool t_undefined(const Value& v, CallArgs&) { return v.is_undefined(); }
bool t_none(const Value& v, CallArgs&) { return v.is_none(); }
bool t_string(const Value& v, CallArgs&) { return v.is_string(); }
bool is_mapping(const Value& v) { return v.is_dict() && v.dict_data().flavor == DictData::Flavor::Dict; }
bool t_mapping(const Value& v, CallArgs&) { return is_mapping(v); }
bool t_iterable(const Value& v, CallArgs&) { return v.is_undefined() || v.is_string() || v.is_list() || is_mapping(v); }
bool t_sequence(const Value& v, CallArgs&) {
  return v.is_undefined() || v.is_string() || (v.is_list() && !v.is_generator()) || is_mapping(v);
}
bool t_number(const Value& v, CallArgs&) { return v.is_number(); }
bool t_integer(const Value& v, CallArgs&) { return v.is_int(); }
bool t_float(const Value& v, CallArgs&) { return v.is_float(); }
bool t_boolean(const Value& v, CallArgs&) { return v.is_bool(); }
bool t_true(const Value& v, CallArgs&) { return v.is_bool() && v.as_bool(); }
bool t_false(const Value& v, CallArgs&) { return v.is_bool() && !v.as_bool(); }
bool t_callable(const Value& v, CallArgs&) { return v.is_function(); }

int64_t int_of(const Value& v) {
  v.require_defined();
  if (!v.is_number()) runtime_error(fmt::format("unsupported operand type(s) for %: '{}' and 'int'", v.type_name()));
  return v.is_float() ? static_cast<int64_t>(v.as_float()) : v.as_int();
}
bool t_odd(const Value& v, CallArgs&) { return (int_of(v) % 2 + 2) % 2 == 1; }
bool t_even(const Value& v, CallArgs&) { return int_of(v) % 2 == 0; }
bool t_divisibleby(const Value& v, CallArgs& a) {
  int64_t d = int_of(arg0(a, "divisibleby"));
  if (d == 0) runtime_error("integer division or modulo by zero");
  return int_of(v) % d == 0;
}
bool t_eq(const Value& v, CallArgs& a) { return equals(v, arg0(a, "eq")); }
bool t_ne(const Value& v, CallArgs& a) { return !equals(v, arg0(a, "ne")); }
bool t_lt(const Value& v, CallArgs& a) { return less_than(v, arg0(a, "lt"), "<"); }
bool t_le(const Value& v, CallArgs& a) { return !less_than(arg0(a, "le"), v, "<="); }
bool t_gt(const Value& v, CallArgs& a) { return less_than(arg0(a, "gt"), v, ">"); }
bool t_ge(const Value& v, CallArgs& a) { return !less_than(v, arg0(a, "ge"), ">="); }
bool t_in(const Value& v, CallArgs& a) { return contains(arg0(a, "in"), v); }
bool t_sameas(const Value& v, CallArgs& a) { return v.same_identity(arg0(a, "sameas")); }
bool t_lower(const Value& v, CallArgs&) {
  std::string s = to_str(v);
  return pystr::lower(s) == s;
}
bool t_upper(const Value& v, CallArgs&) {
  std::string s = to_str(v);
  return pystr::upper(s) == s;
}
bool t_filter(const Value& v, CallArgs&) { return v.is_string() && find_filter(v.as_string()) != nullptr; }
bool t_test(const Value& v, CallArgs&) { return v.is_string() && find_test(v.as_string()) != nullptr; }
bool t_escaped(const Value&, CallArgs&) { return false; }

const std::unordered_map<std::string_view, TestFn>& tests() {
  static const std::unordered_map<std::string_view, TestFn> table = {
      {"defined", t_defined}, {"undefined", t_undefined}, {"none", t_none},       {"string", t_string},
      {"mapping", t_mapping}, {"iterable", t_iterable},   {"sequence", t_sequence}, {"number", t_number},
      {"integer", t_integer}, {"float", t_float},         {"boolean", t_boolean}, {"true", t_true},
      {"false", t_false},     {"callable", t_callable},   {"odd", t_odd},         {"even", t_even},
      {"divisibleby", t_divisibleby}, {"eq", t_eq},       {"equalto", t_eq},      {"==", t_eq},
      {"ne", t_ne},           {"!=", t_ne},               {"lt", t_lt},           {"lessthan", t_lt},
      {"<", t_lt},            {"le", t_le},               {"<=", t_le},           {"gt", t_gt},
      {"greaterthan", t_gt},  {">", t_gt},                {"ge", t_ge},           {">=", t_ge},
      {"in", t_in},           {"sameas", t_sameas},       {"lower", t_lower},     {"upper", t_upper},
      {"filter", t_filter},   {"test", t_test},           {"escaped", t_escaped},
  };
  return table;
}

}  // namespace

TestFn find_test(std::string_view name) {
  const auto& t = tests();
  auto it = t.find(name);
  return it == t.end() ? nullptr : it->second;
}

bool has_filter(std::string_view name) { return find_filter(name) != nullptr; }
bool has_test(std::string_view name) { return find_test(name) != nullptr; }

}  // namespace ember::jinja
