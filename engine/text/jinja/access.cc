// Attribute, item and slice access, and the Python methods of str, list and dict that templates
// call, under the rules of jinja2's ImmutableSandboxedEnvironment.
#include <algorithm>

#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/error.h"
#include "engine/text/jinja/pystr.h"

namespace ember::jinja {
namespace {

Value no_attribute(const Value& obj, const std::string& name) {
  return Value::undefined(fmt::format("'{}' has no attribute '{}'", obj.object_type_repr(), name));
}

Value unsafe(const Value& obj, const std::string& name) {
  return Value::undefined(
      fmt::format("access to attribute '{}' of '{}' object is unsafe.", name, obj.type_name()));
}

std::optional<std::string> opt_string(const CallArgs& a, size_t i, std::string_view name) {
  const Value* v = a.get(i, name);
  if (!v || v->is_none()) return std::nullopt;
  if (!v->is_string()) runtime_error(fmt::format("must be str or None, not {}", v->type_name()));
  return v->as_string();
}

Value strings(const std::vector<std::string>& parts) {
  std::vector<Value> out;
  out.reserve(parts.size());
  for (const auto& p : parts) out.emplace_back(p);
  return Value::list(std::move(out));
}

bool affix_match(const std::string& s, const Value& affix, bool prefix) {
  auto one = [&](const Value& a) {
    if (!a.is_string())
      runtime_error(fmt::format("{} first arg must be str or a tuple of str, not {}",
                                prefix ? "startswith" : "endswith", a.type_name()));
    const std::string& x = a.as_string();
    if (x.size() > s.size()) return false;
    return prefix ? s.compare(0, x.size(), x) == 0 : s.compare(s.size() - x.size(), x.size(), x) == 0;
  };
  if (affix.is_tuple()) {
    for (const auto& a : affix.items())
      if (one(a)) return true;
    return false;
  }
  return one(affix);
}

std::string str_format(const std::string& fmt, const CallArgs& args);

Value string_method(const std::string& s, const std::string& name, CallArgs& a) {
  if (name == "strip" || name == "lstrip" || name == "rstrip")
    return Value(pystr::strip(s, opt_string(a, 0, "chars"), name != "rstrip", name != "lstrip"));
  if (name == "split" || name == "rsplit") {
    auto sep = opt_string(a, 0, "sep");
    if (sep && sep->empty()) runtime_error("empty separator");
    int64_t maxsplit = arg_int(a, 1, "maxsplit", -1);
    return strings(name == "split" ? pystr::split(s, sep, maxsplit) : pystr::rsplit(s, sep, maxsplit));
  }
  if (name == "splitlines") return strings(pystr::splitlines(s));
  if (name == "startswith" || name == "endswith") {
    const Value* x = a.get(0, "prefix");
    if (!x) runtime_error(name + "() takes at least 1 argument (0 given)");
    return Value(affix_match(s, *x, name == "startswith"));
  }
  if (name == "upper") return Value(pystr::upper(s));
  if (name == "lower") return Value(pystr::lower(s));
  if (name == "title") return Value(pystr::title(s));
  if (name == "capitalize") return Value(pystr::capitalize(s));
  if (name == "replace") {
    return Value(pystr::replace(s, arg_string(a, 0, "old", ""), arg_string(a, 1, "new", ""),
                                arg_int(a, 2, "count", -1)));
  }
  if (name == "find" || name == "rfind" || name == "index" || name == "rindex") {
    int64_t r = pystr::find(s, arg_string(a, 0, "sub", ""), name[0] == 'r');
    if (r < 0 && (name == "index" || name == "rindex")) runtime_error("substring not found");
    return Value(r);
  }
  if (name == "count") return Value(pystr::count(s, arg_string(a, 0, "sub", "")));
  if (name == "join") {
    const Value* it = a.get(0, "iterable");
    if (!it) runtime_error("join() takes exactly one argument (0 given)");
    std::string out;
    auto items = iterate(*it);
    for (size_t i = 0; i < items.size(); ++i) {
      if (!items[i].is_string())
        runtime_error(fmt::format("sequence item {}: expected str instance, {} found", i, items[i].type_name()));
      if (i) out += s;
      out += items[i].as_string();
    }
    return Value(std::move(out));
  }
  if (name == "format") return Value(str_format(s, a));
  auto all_of = [&](auto pred) {
    auto cps = pystr::decode(s);
    return Value(!cps.empty() && std::all_of(cps.begin(), cps.end(), pred));
  };
  if (name == "isdigit" || name == "isnumeric" || name == "isdecimal")
    return all_of([](uint32_t c) { return c >= '0' && c <= '9'; });
  if (name == "isalpha")
    return all_of([](uint32_t c) { return pystr::is_cased_upper(c) || pystr::is_cased_lower(c) || c > 0x2e80; });
  if (name == "isalnum")
    return all_of([](uint32_t c) {
      return (c >= '0' && c <= '9') || pystr::is_cased_upper(c) || pystr::is_cased_lower(c) || c > 0x2e80;
    });
  if (name == "isspace") return all_of(pystr::is_space);
  if (name == "isupper" || name == "islower") {
    auto cps = pystr::decode(s);
    bool any = false;
    for (uint32_t c : cps) {
      if (name == "isupper" ? pystr::is_cased_lower(c) : pystr::is_cased_upper(c)) return Value(false);
      any = any || pystr::is_cased_upper(c) || pystr::is_cased_lower(c);
    }
    return Value(any);
  }
  runtime_error("unsupported str method " + name);
}

const char* const kStringMethods[] = {"strip", "lstrip", "rstrip", "split", "rsplit", "splitlines",
                                      "startswith", "endswith", "upper", "lower", "title", "capitalize",
                                      "replace", "find", "rfind", "index", "rindex", "count", "join",
                                      "format", "isdigit", "isnumeric", "isdecimal", "isalpha", "isalnum",
                                      "isspace", "isupper", "islower"};

Value dict_method(const Value& d, const std::string& name, CallArgs& a) {
  const auto& items = d.dict_data().items;
  if (name == "get") {
    const Value* k = a.get(0, "key");
    if (!k) runtime_error("get expected at least 1 argument, got 0");
    if (const Value* v = d.dict_data().find(*k)) return *v;
    const Value* def = a.get(1, "default");
    return def ? *def : Value::none();
  }
  std::vector<Value> out;
  for (const auto& [k, v] : items) {
    if (name == "items") out.push_back(Value::tuple({k, v}));
    else if (name == "keys") out.push_back(k);
    else out.push_back(v);
  }
  if (name == "copy") {
    Value c = Value::dict();
    c.dict_data().items = items;
    return c;
  }
  return Value::list(std::move(out));
}

Value list_method(const Value& l, const std::string& name, CallArgs& a) {
  const auto& items = l.items();
  const Value* x = a.get(0, "value");
  if (!x) runtime_error(name + "() takes exactly one argument (0 given)");
  if (name == "count") return Value(static_cast<int64_t>(std::count_if(items.begin(), items.end(), [&](const Value& v) { return equals(v, *x); })));
  for (size_t i = 0; i < items.size(); ++i)
    if (equals(items[i], *x)) return Value(static_cast<int64_t>(i));
  runtime_error(fmt::format("{} is not in list", to_repr(*x)));
}

template <typename F>
Value bind(const Value& obj, const std::string& name, F method) {
  return Value::function(name, [obj, name, method](CallArgs& a) { return method(obj, name, a); });
}

// Python-style index normalisation; returns false when out of range.
bool normalize_index(int64_t& i, size_t size) {
  if (i < 0) i += static_cast<int64_t>(size);
  return i >= 0 && i < static_cast<int64_t>(size);
}

}  // namespace

Value get_attr(const Value& obj, const std::string& name) {
  obj.require_defined();
  if (!name.empty() && name[0] == '_') return unsafe(obj, name);  // the sandbox hides private names
  switch (obj.kind()) {
    case Value::Kind::Dict: {
      const auto& d = obj.dict_data();
      if (d.flavor == DictData::Flavor::Dict) {
        if (name == "get" || name == "items" || name == "keys" || name == "values" || name == "copy")
          return bind(obj, name, dict_method);
        if (name == "pop" || name == "popitem" || name == "clear" || name == "update" || name == "setdefault")
          return unsafe(obj, name);
      }
      if (const Value* v = d.find(Value(name))) return *v;
      return no_attribute(obj, name);
    }
    case Value::Kind::String:
      for (const char* m : kStringMethods)
        if (name == m)
          return bind(obj, name, [](const Value& o, const std::string& n, CallArgs& a) { return string_method(o.as_string(), n, a); });
      return no_attribute(obj, name);
    case Value::Kind::List:
      if (obj.is_generator()) return no_attribute(obj, name);
      if (name == "index" || name == "count") return bind(obj, name, list_method);
      if (!obj.is_tuple() && (name == "append" || name == "pop" || name == "remove" || name == "insert" ||
                              name == "extend" || name == "clear" || name == "sort" || name == "reverse"))
        return unsafe(obj, name);
      return no_attribute(obj, name);
    default: return no_attribute(obj, name);
  }
}

Value get_item(const Value& obj, const Value& key) {
  obj.require_defined();
  switch (obj.kind()) {
    case Value::Kind::Dict:
      if (obj.dict_data().flavor == DictData::Flavor::Dict) {
        if (key.is_list() && !key.is_tuple()) runtime_error("unhashable type: 'list'");
        if (const Value* v = obj.dict_data().find(key)) return *v;
      }
      break;
    case Value::Kind::List:
    case Value::Kind::String:
      if (key.is_int() || key.is_bool()) {
        if (obj.is_generator()) runtime_error("'generator' object is not subscriptable");
        int64_t i = key.as_int();
        if (obj.is_string()) {
          auto chars = utf8_chars(obj.as_string());
          if (normalize_index(i, chars.size())) return Value(chars[static_cast<size_t>(i)]);
        } else if (normalize_index(i, obj.items().size())) {
          return obj.items()[static_cast<size_t>(i)];
        }
        return Value::undefined(fmt::format("'{}' has no element {}", obj.object_type_repr(), to_repr(key)));
      }
      break;
    default: break;
  }
  if (key.is_string()) return get_attr(obj, key.as_string());
  return Value::undefined(fmt::format("'{}' has no element {}", obj.object_type_repr(), to_repr(key)));
}

Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step) {
  obj.require_defined();
  if (!(obj.is_string() || (obj.is_list() && !obj.is_generator())))
    runtime_error(fmt::format("'{}' object is not subscriptable", obj.type_name()));
  auto bound = [](const Value& v, const char* what) -> std::optional<int64_t> {
    if (v.is_none() || v.is_undefined()) return std::nullopt;
    if (!v.is_int() && !v.is_bool())
      runtime_error(std::string("slice indices must be integers or None or have an __index__ method"));
    (void)what;
    return v.as_int();
  };
  int64_t st = bound(step, "step").value_or(1);
  if (st == 0) runtime_error("slice step cannot be zero");
  std::vector<std::string> chars;
  size_t n = obj.is_string() ? (chars = utf8_chars(obj.as_string())).size() : obj.items().size();
  auto len = static_cast<int64_t>(n);
  auto clamp = [&](std::optional<int64_t> v, int64_t def) {
    if (!v) return def;
    int64_t x = *v;
    if (x < 0) x += len;
    if (st > 0) return std::clamp<int64_t>(x, 0, len);
    return std::clamp<int64_t>(x, -1, len - 1);
  };
  int64_t b = clamp(bound(start, "start"), st > 0 ? 0 : len - 1);
  int64_t e = clamp(bound(stop, "stop"), st > 0 ? len : -1);
  std::vector<size_t> idx;
  for (int64_t i = b; st > 0 ? i < e : i > e; i += st) idx.push_back(static_cast<size_t>(i));
  if (obj.is_string()) {
    std::string out;
    for (size_t i : idx) out += chars[i];
    return Value(std::move(out));
  }
  std::vector<Value> out;
  for (size_t i : idx) out.push_back(obj.items()[i]);
  return obj.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
}

namespace {

// str.format with automatic ({}) or explicit ({0}, {name}) fields; format specs are not supported.
std::string str_format(const std::string& fmt, const CallArgs& args) {
  std::string out;
  size_t auto_index = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    char c = fmt[i];
    if (c == '{' && i + 1 < fmt.size() && fmt[i + 1] == '{') {
      out += '{';
      ++i;
    } else if (c == '}' && i + 1 < fmt.size() && fmt[i + 1] == '}') {
      out += '}';
      ++i;
    } else if (c == '{') {
      size_t close = fmt.find('}', i);
      if (close == std::string::npos) runtime_error("Single '{' encountered in format string");
      std::string field = fmt.substr(i + 1, close - i - 1);
      if (field.find_first_of(":!") != std::string::npos)
        runtime_error("format specifications are not supported by ember's template engine");
      const Value* v = nullptr;
      if (field.empty()) {
        if (auto_index < args.positional.size()) v = &args.positional[auto_index];
        ++auto_index;
        if (!v) runtime_error(fmt::format("Replacement index {} out of range for positional args tuple", auto_index - 1));
      } else if (std::all_of(field.begin(), field.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
        size_t k = std::stoul(field);
        if (k >= args.positional.size())
          runtime_error(fmt::format("Replacement index {} out of range for positional args tuple", k));
        v = &args.positional[k];
      } else {
        for (const auto& [n, val] : args.named)
          if (n == field) v = &val;
        if (!v) runtime_error("'" + field + "'");
      }
      out += to_str(*v);
      i = close;
    } else if (c == '}') {
      runtime_error("Single '}' encountered in format string");
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

std::string percent_format(const std::string& fmt, const Value& args) {
  std::vector<Value> values = args.is_tuple() ? args.items() : std::vector<Value>{args};
  std::string out;
  size_t next = 0;
  for (size_t i = 0; i < fmt.size(); ++i) {
    if (fmt[i] != '%') {
      out += fmt[i];
      continue;
    }
    if (++i >= fmt.size()) runtime_error("incomplete format");
    char conv = fmt[i];
    if (conv == '%') {
      out += '%';
      continue;
    }
    if (next >= values.size()) runtime_error("not enough arguments for format string");
    const Value& v = values[next++];
    switch (conv) {
      case 's': out += to_str(v); break;
      case 'r': out += to_repr(v); break;
      case 'd':
      case 'i':
        if (!v.is_number()) runtime_error(fmt::format("%{} format: a real number is required, not {}", conv, v.type_name()));
        out += std::to_string(v.is_float() ? static_cast<int64_t>(v.as_float()) : v.as_int());
        break;
      case 'f':
        if (!v.is_number()) runtime_error(fmt::format("must be real number, not {}", v.type_name()));
        out += fmt::format("{:.6f}", v.as_float());
        break;
      default: runtime_error(fmt::format("unsupported format character '{}'", conv));
    }
  }
  if (next < values.size()) runtime_error("not all arguments converted during string formatting");
  return out;
}

}  // namespace ember::jinja
