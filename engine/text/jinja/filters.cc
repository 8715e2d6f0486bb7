// Jinja's built-in filters (the ones chat templates use), with jinja2 3.1's behaviour, and
// transformers' own tojson.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <unordered_map>

#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/error.h"
#include "engine/text/jinja/pystr.h"

namespace ember::jinja {

std::string arg_string(const CallArgs& args, size_t index, std::string_view name, std::string_view fallback) {
  const Value* v = args.get(index, name);
  if (!v) return std::string(fallback);
  if (!v->is_string()) return to_str(*v);
  return v->as_string();
}

int64_t arg_int(const CallArgs& args, size_t index, std::string_view name, int64_t fallback) {
  const Value* v = args.get(index, name);
  if (!v || v->is_none()) return fallback;
  if (!v->is_int() && !v->is_bool())
    runtime_error(fmt::format("'{}' object cannot be interpreted as an integer", v->type_name()));
  return v->as_int();
}

bool arg_bool(const CallArgs& args, size_t index, std::string_view name, bool fallback) {
  const Value* v = args.get(index, name);
  return v ? v->truthy() : fallback;
}

int64_t length_of(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return 0;
    case Value::Kind::String: return static_cast<int64_t>(utf8_length(v.as_string()));
    case Value::Kind::List:
      if (v.is_generator()) break;
      return static_cast<int64_t>(v.items().size());
    case Value::Kind::Dict:
      if (v.dict_data().flavor != DictData::Flavor::Dict) break;
      return static_cast<int64_t>(v.dict_data().items.size());
    default: break;
  }
  runtime_error(fmt::format("object of type '{}' has no len()", v.type_name()));
}

bool contains(const Value& container, const Value& item) {
  switch (container.kind()) {
    case Value::Kind::Undefined: return false;
    case Value::Kind::String:
      if (!item.is_string())
        runtime_error(fmt::format("'in <string>' requires string as left operand, not {}", item.type_name()));
      return container.as_string().find(item.as_string()) != std::string::npos;
    case Value::Kind::List:
      for (const auto& v : container.items())
        if (equals(v, item)) return true;
      return false;
    case Value::Kind::Dict:
      if (container.dict_data().flavor != DictData::Flavor::Dict) break;
      return container.dict_data().find(item) != nullptr;
    default: break;
  }
  runtime_error(fmt::format("argument of type '{}' is not iterable", container.type_name()));
}

namespace {

// attribute="a.b.0" as jinja2's make_attrgetter: each part is an attribute or an index.
Value attr_path(const Value& v, const std::string& path) {
  Value cur = v;
  size_t start = 0;
  while (true) {
    size_t dot = path.find('.', start);
    std::string part = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    bool digits = !part.empty() && std::all_of(part.begin(), part.end(), [](char c) { return c >= '0' && c <= '9'; });
    cur = digits ? get_item(cur, Value(static_cast<int64_t>(std::stoll(part)))) : get_item(cur, Value(part));
    if (dot == std::string::npos) return cur;
    start = dot + 1;
  }
}

Value attribute_of(const Value& v, const Value& attribute) {
  if (attribute.is_int()) return get_item(v, attribute);
  return attr_path(v, to_str(attribute));
}

std::string soft_str(const Value& v) { return to_str(v); }

CallArgs rest_args(const CallArgs& a, size_t from) {
  CallArgs out;
  for (size_t i = from; i < a.positional.size(); ++i) out.positional.push_back(a.positional[i]);
  out.named = a.named;
  return out;
}

Value f_trim_impl(const Value& v, CallArgs& a) {
  const Value* chars = a.get(0, "chars");
  std::optional<std::string> c;
  if (chars && !chars->is_none()) c = to_str(*chars);
  return Value(pystr::strip(soft_str(v), c, true, true));
}

Value f_length(const Value& v, CallArgs&) { return Value(length_of(v)); }

Value f_upper_impl(const Value& v, CallArgs&) { return Value(pystr::upper(soft_str(v))); }
Value f_lower_impl(const Value& v, CallArgs&) { return Value(pystr::lower(soft_str(v))); }
Value f_capitalize_impl(const Value& v, CallArgs&) { return Value(pystr::capitalize(soft_str(v))); }

Value f_title_impl(const Value& v, CallArgs&) {
  // jinja2's title() capitalises words split on whitespace and brackets/hyphens.
  auto cps = pystr::decode(soft_str(v));
  bool start = true;
  for (auto& cp : cps) {
    bool boundary = pystr::is_space(cp) || cp == '-' || cp == '(' || cp == '{' || cp == '[' || cp == '<';
    cp = start ? pystr::to_upper(cp) : pystr::to_lower(cp);
    start = boundary;
  }
  return Value(pystr::encode(cps));
}

Value f_string(const Value& v, CallArgs&) { return Value(soft_str(v)); }

Value f_escape(const Value& v, CallArgs&) {
  if (v.is_markup()) return v;
  return Value::markup(html_escape(soft_str(v)));
}

Value f_forceescape(const Value& v, CallArgs&) { return Value::markup(html_escape(soft_str(v))); }

Value f_safe(const Value& v, CallArgs&) { return v.is_markup() ? v : Value::markup(soft_str(v)); }

// Filters that work on a Markup's text keep it a Markup, as markupsafe's str methods do.
Value keep_markup(const Value& in, Value out) {
  if (in.is_markup() && out.is_string() && !out.is_markup()) return Value::markup(out.as_string());
  return out;
}

}  // namespace

std::string html_escape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&#39;"; break;
      case '"': out += "&#34;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

Value f_default(const Value& v, CallArgs& a) {
  const Value* def = a.get(0, "default_value");
  bool boolean = arg_bool(a, 1, "boolean", false);
  if (v.is_undefined() || (boolean && !v.truthy())) return def ? *def : Value(std::string());
  return v;
}

Value f_list(const Value& v, CallArgs&) { return Value::list(iterate(v)); }

Value f_first(const Value& v, CallArgs&) {
  auto items = iterate(v);
  if (items.empty()) return Value::undefined("No first item, sequence was empty.");
  return items.front();
}

Value f_last(const Value& v, CallArgs&) {
  if (v.is_generator()) runtime_error("'generator' object is not reversible");
  auto items = iterate(v);
  if (items.empty()) return Value::undefined("No last item, sequence was empty.");
  return items.back();
}

Value f_reverse(const Value& v, CallArgs&) {
  if (v.is_string()) {
    auto cps = pystr::decode(v.as_string());
    std::reverse(cps.begin(), cps.end());
    return Value(pystr::encode(cps));
  }
  auto items = iterate(v);
  std::reverse(items.begin(), items.end());
  return Value::generator(std::move(items));
}

Value f_join(const Value& v, CallArgs& a) {
  std::string sep = arg_string(a, 0, "d", "");
  const Value* attribute = a.get(1, "attribute");
  std::string out;
  auto items = iterate(v);
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += sep;
    out += soft_str(attribute && !attribute->is_none() ? attribute_of(items[i], *attribute) : items[i]);
  }
  return Value(std::move(out));
}

Value f_replace_impl(const Value& v, CallArgs& a) {
  return Value(pystr::replace(soft_str(v), arg_string(a, 0, "old", ""), arg_string(a, 1, "new", ""),
                              arg_int(a, 2, "count", -1)));
}

Value f_items(const Value& v, CallArgs&) {
  if (v.is_undefined()) return Value::generator({});
  if (!v.is_dict()) runtime_error("Can only get item pairs from a mapping.");
  std::vector<Value> out;
  for (const auto& [k, val] : v.dict_data().items) out.push_back(Value::tuple({k, val}));
  return Value::generator(std::move(out));
}

Value f_tojson(const Value& v, CallArgs& a) {
  JsonOptions o;
  o.ensure_ascii = arg_bool(a, 0, "ensure_ascii", false);
  if (const Value* ind = a.get(1, "indent"); ind && !ind->is_none()) {
    if (ind->is_string()) o.indent = ind->as_string();
    else o.indent = std::string(static_cast<size_t>(std::max<int64_t>(0, ind->as_int())), ' ');
    o.item_separator = ",";
  }
  if (const Value* sep = a.get(2, "separators"); sep && !sep->is_none()) {
    if (!sep->is_list() || sep->items().size() != 2) runtime_error("separators must be a (item, key) pair");
    o.item_separator = to_str(sep->items()[0]);
    o.key_separator = to_str(sep->items()[1]);
  }
  o.sort_keys = arg_bool(a, 3, "sort_keys", false);
  return Value(to_json(v, o));
}

Value f_int(const Value& v, CallArgs& a) {
  const Value* def = a.get(0, "default");
  Value fallback = def ? *def : Value(static_cast<int64_t>(0));
  v.require_defined();
  if (v.is_int() || v.is_bool()) return Value(v.as_int());
  if (v.is_float()) return std::isfinite(v.as_float()) ? Value(static_cast<int64_t>(v.as_float())) : fallback;
  if (v.is_string()) {
    std::string s = pystr::strip(v.as_string(), std::nullopt, true, true);
    std::string t;
    for (char c : s)
      if (c != '_') t += c;
    char* end = nullptr;
    errno = 0;
    long long i = std::strtoll(t.c_str(), &end, 10);
    if (!t.empty() && *end == '\0' && errno == 0) return Value(static_cast<int64_t>(i));
    double d = std::strtod(t.c_str(), &end);
    if (!t.empty() && *end == '\0' && std::isfinite(d)) return Value(static_cast<int64_t>(d));
  }
  return fallback;
}

Value f_float(const Value& v, CallArgs& a) {
  const Value* def = a.get(0, "default");
  Value fallback = def ? *def : Value(0.0);
  v.require_defined();
  if (v.is_number()) return Value(v.as_float());
  if (v.is_string()) {
    std::string t = pystr::strip(v.as_string(), std::nullopt, true, true);
    char* end = nullptr;
    double d = std::strtod(t.c_str(), &end);
    if (!t.empty() && *end == '\0') return Value(d);
  }
  return fallback;
}

Value f_abs(const Value& v, CallArgs&) {
  v.require_defined();
  if (v.is_float()) return Value(std::fabs(v.as_float()));
  if (v.is_number()) return Value(std::abs(v.as_int()));
  runtime_error(fmt::format("bad operand type for abs(): '{}'", v.type_name()));
}

Value f_round(const Value& v, CallArgs& a) {
  int64_t precision = arg_int(a, 0, "precision", 0);
  std::string method = arg_string(a, 1, "method", "common");
  v.require_defined();
  if (!v.is_number()) runtime_error(fmt::format("type {} doesn't define __round__ method", v.type_name()));
  double x = v.as_float();
  double scale = std::pow(10.0, static_cast<double>(precision));
  double y = x * scale;
  if (method == "common") y = std::nearbyint(y);  // round-half-even, like Python's round()
  else if (method == "floor") y = std::floor(y);
  else if (method == "ceil") y = std::ceil(y);
  else runtime_error("method must be common, ceil or floor");
  return Value(y / scale);
}

Value f_indent_impl(const Value& v, CallArgs& a) {
  const Value* w = a.get(0, "width");
  std::string pad = !w ? "    " : w->is_string() ? w->as_string() : std::string(static_cast<size_t>(std::max<int64_t>(0, w->as_int())), ' ');
  bool first = arg_bool(a, 1, "first", false);
  bool blank = arg_bool(a, 2, "blank", false);
  std::string s = soft_str(v) + "\n";  // jinja2's quirk: append, split, join
  auto lines = pystr::splitlines(s);
  std::string out;
  if (blank) {
    for (size_t i = 0; i < lines.size(); ++i) out += (i ? "\n" + pad : "") + lines[i];
  } else if (!lines.empty()) {
    out = lines[0];
    for (size_t i = 1; i < lines.size(); ++i) out += "\n" + (lines[i].empty() ? "" : pad) + lines[i];
  }
  if (first) out = pad + out;
  return Value(std::move(out));
}

Value f_center(const Value& v, CallArgs& a) {
  std::string s = soft_str(v);
  int64_t width = arg_int(a, 0, "width", 80);
  auto n = static_cast<int64_t>(utf8_length(s));
  if (width <= n) return Value(s);
  int64_t total = width - n;
  int64_t left = total / 2 + (total & width & 1);
  return Value(std::string(static_cast<size_t>(left), ' ') + s + std::string(static_cast<size_t>(total - left), ' '));
}

Value f_wordcount(const Value& v, CallArgs&) {
  return Value(static_cast<int64_t>(pystr::split(soft_str(v), std::nullopt, -1).size()));
}

Value f_format(const Value& v, CallArgs& a) {
  if (!a.named.empty() && !a.positional.empty())
    runtime_error("can't handle positional and keyword arguments at the same time");
  return Value(percent_format(soft_str(v), Value::tuple(a.positional)));
}

Value sort_key(const Value& v, const Value* attribute, bool case_sensitive) {
  Value k = attribute && !attribute->is_none() ? attribute_of(v, *attribute) : v;
  if (!case_sensitive && k.is_string()) return Value(pystr::lower(k.as_string()));
  return k;
}

Value f_sort(const Value& v, CallArgs& a) {
  bool reverse = arg_bool(a, 0, "reverse", false);
  bool cs = arg_bool(a, 1, "case_sensitive", false);
  const Value* attribute = a.get(2, "attribute");
  auto items = iterate(v);
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? less_than(sort_key(y, attribute, cs), sort_key(x, attribute, cs))
                   : less_than(sort_key(x, attribute, cs), sort_key(y, attribute, cs));
  });
  return Value::list(std::move(items));
}

Value f_dictsort(const Value& v, CallArgs& a) {
  bool cs = arg_bool(a, 0, "case_sensitive", false);
  std::string by = arg_string(a, 1, "by", "key");
  bool reverse = arg_bool(a, 2, "reverse", false);
  if (!v.is_dict()) runtime_error(fmt::format("'{}' object has no attribute 'items'", v.type_name()));
  std::vector<Value> items;
  for (const auto& [k, val] : v.dict_data().items) items.push_back(Value::tuple({k, val}));
  size_t pos = by == "key" ? 0 : by == "value" ? 1 : 2;
  if (pos == 2) runtime_error("You can only sort by either \"key\" or \"value\"");
  auto key = [&](const Value& t) { return sort_key(t.items()[pos], nullptr, cs); };
  std::stable_sort(items.begin(), items.end(), [&](const Value& x, const Value& y) {
    return reverse ? less_than(key(y), key(x)) : less_than(key(x), key(y));
  });
  return Value::list(std::move(items));
}

Value f_unique(const Value& v, CallArgs& a) {
  bool cs = arg_bool(a, 0, "case_sensitive", false);
  const Value* attribute = a.get(1, "attribute");
  std::vector<Value> seen, out;
  for (const auto& x : iterate(v)) {
    Value k = sort_key(x, attribute, cs);
    if (std::any_of(seen.begin(), seen.end(), [&](const Value& s) { return equals(s, k); })) continue;
    seen.push_back(k);
    out.push_back(x);
  }
  return Value::generator(std::move(out));
}

Value min_max(const Value& v, CallArgs& a, bool want_max) {
  bool cs = arg_bool(a, 0, "case_sensitive", false);
  const Value* attribute = a.get(1, "attribute");
  auto items = iterate(v);
  if (items.empty()) return Value::undefined(want_max ? "No aggregated item, sequence was empty." : "No aggregated item, sequence was empty.");
  size_t best = 0;
  for (size_t i = 1; i < items.size(); ++i) {
    Value k = sort_key(items[i], attribute, cs), b = sort_key(items[best], attribute, cs);
    if (want_max ? less_than(b, k) : less_than(k, b)) best = i;
  }
  return items[best];
}
Value f_max(const Value& v, CallArgs& a) { return min_max(v, a, true); }
Value f_min(const Value& v, CallArgs& a) { return min_max(v, a, false); }

Value add_values(const Value& x, const Value& y) {
  x.require_defined();
  y.require_defined();
  if (x.is_number() && y.is_number()) {
    if (x.is_float() || y.is_float()) return Value(x.as_float() + y.as_float());
    return Value(x.as_int() + y.as_int());
  }
  runtime_error(fmt::format("unsupported operand type(s) for +: '{}' and '{}'", x.type_name(), y.type_name()));
}

Value f_sum(const Value& v, CallArgs& a) {
  const Value* attribute = a.get(0, "attribute");
  const Value* start = a.get(1, "start");
  Value total = start ? *start : Value(static_cast<int64_t>(0));
  for (const auto& x : iterate(v))
    total = add_values(total, attribute && !attribute->is_none() ? attribute_of(x, *attribute) : x);
  return total;
}

Value f_batch(const Value& v, CallArgs& a) {
  int64_t n = arg_int(a, 0, "linecount", 1);
  if (n <= 0) runtime_error("batch size must be positive");
  const Value* fill = a.get(1, "fill_with");
  std::vector<Value> out, cur;
  for (const auto& x : iterate(v)) {
    cur.push_back(x);
    if (static_cast<int64_t>(cur.size()) == n) {
      out.push_back(Value::list(std::move(cur)));
      cur.clear();
    }
  }
  if (!cur.empty()) {
    if (fill && !fill->is_none())
      while (static_cast<int64_t>(cur.size()) < n) cur.push_back(*fill);
    out.push_back(Value::list(std::move(cur)));
  }
  return Value::generator(std::move(out));
}

Value f_attr(const Value& v, CallArgs& a) { return get_attr(v, arg_string(a, 0, "name", "")); }

bool run_test(const Value& x, const CallArgs& a, size_t name_index) {
  if (a.positional.size() <= name_index) return x.truthy();
  std::string name = to_str(a.positional[name_index]);
  TestFn t = find_test(name);
  if (!t) runtime_error(fmt::format("No test named '{}'.", name));
  CallArgs rest = rest_args(a, name_index + 1);
  return t(x, rest);
}

Value select_impl(const Value& v, CallArgs& a, bool by_attr, bool keep) {
  std::vector<Value> out;
  if (by_attr && a.positional.empty()) runtime_error("Missing parameter for attribute name");
  if (!v.truthy()) return Value::generator({});  // jinja2 skips a false sequence (None included)
  for (const auto& x : iterate(v)) {
    bool r = by_attr ? run_test(attribute_of(x, a.positional[0]), a, 1) : run_test(x, a, 0);
    if (r == keep) out.push_back(x);
  }
  return Value::generator(std::move(out));
}
Value f_select(const Value& v, CallArgs& a) { return select_impl(v, a, false, true); }
Value f_reject(const Value& v, CallArgs& a) { return select_impl(v, a, false, false); }
Value f_selectattr(const Value& v, CallArgs& a) { return select_impl(v, a, true, true); }
Value f_rejectattr(const Value& v, CallArgs& a) { return select_impl(v, a, true, false); }

Value f_map(const Value& v, CallArgs& a) {
  std::vector<Value> out;
  if (!v.truthy()) return Value::generator({});
  const Value* attribute = nullptr;
  const Value* def = nullptr;
  for (const auto& [n, val] : a.named) {
    if (n == "attribute") attribute = &val;
    else if (n == "default") def = &val;
  }
  if (a.positional.empty() && attribute) {
    for (const auto& x : iterate(v)) {
      Value r = attribute_of(x, *attribute);
      out.push_back(r.is_undefined() && def ? *def : r);
    }
    return Value::generator(std::move(out));
  }
  if (a.positional.empty()) runtime_error("map requires a filter argument");
  std::string name = to_str(a.positional[0]);
  FilterFn f = find_filter(name);
  if (!f) runtime_error(fmt::format("No filter named '{}'.", name));
  CallArgs rest = rest_args(a, 1);
  for (const auto& x : iterate(v)) {
    CallArgs copy = rest;
    out.push_back(f(x, copy));
  }
  return Value::generator(std::move(out));
}

Value f_trim(const Value& v, CallArgs& a) { return keep_markup(v, f_trim_impl(v, a)); }
Value f_upper(const Value& v, CallArgs& a) { return keep_markup(v, f_upper_impl(v, a)); }
Value f_lower(const Value& v, CallArgs& a) { return keep_markup(v, f_lower_impl(v, a)); }
Value f_capitalize(const Value& v, CallArgs& a) { return keep_markup(v, f_capitalize_impl(v, a)); }
Value f_title(const Value& v, CallArgs& a) { return keep_markup(v, f_title_impl(v, a)); }
Value f_replace(const Value& v, CallArgs& a) { return keep_markup(v, f_replace_impl(v, a)); }
Value f_indent(const Value& v, CallArgs& a) { return keep_markup(v, f_indent_impl(v, a)); }

const std::unordered_map<std::string_view, FilterFn>& filters() {
  static const std::unordered_map<std::string_view, FilterFn> table = {
      {"abs", f_abs},         {"attr", f_attr},           {"batch", f_batch},
      {"capitalize", f_capitalize}, {"center", f_center}, {"count", f_length},
      {"d", f_default},       {"default", f_default},     {"dictsort", f_dictsort},
      {"e", f_escape},        {"escape", f_escape},       {"first", f_first},
      {"float", f_float},     {"forceescape", f_forceescape},  {"format", f_format},
      {"indent", f_indent},   {"int", f_int},             {"items", f_items},
      {"join", f_join},       {"last", f_last},           {"length", f_length},
      {"list", f_list},       {"lower", f_lower},         {"map", f_map},
      {"max", f_max},         {"min", f_min},             {"reject", f_reject},
      {"rejectattr", f_rejectattr}, {"replace", f_replace}, {"reverse", f_reverse},
      {"round", f_round},     {"safe", f_safe},           {"select", f_select},
      {"selectattr", f_selectattr}, {"sort", f_sort},     {"string", f_string},
      {"sum", f_sum},         {"title", f_title},         {"tojson", f_tojson},
      {"trim", f_trim},       {"unique", f_unique},       {"upper", f_upper},
      {"wordcount", f_wordcount},
  };
  return table;
}

}  // namespace

FilterFn find_filter(std::string_view name) {
  const auto& t = filters();
  auto it = t.find(name);
  return it == t.end() ? nullptr : it->second;
}

}  // namespace ember::jinja
