#include "engine/text/jinja/value.h"

#include <charconv>
#include <cmath>
#include <cstdio>

#include "engine/text/jinja/error.h"

namespace ember::jinja {

const Value* DictData::find(const Value& key) const {
  for (const auto& [k, v] : items)
    if (equals(k, key)) return &v;
  return nullptr;
}

Value* DictData::find(const Value& key) {
  for (auto& [k, v] : items)
    if (equals(k, key)) return &v;
  return nullptr;
}

void DictData::set(Value key, Value value) {
  if (Value* v = find(key)) {
    *v = std::move(value);
    return;
  }
  items.emplace_back(std::move(key), std::move(value));
}

const Value* CallArgs::get(size_t index, std::string_view name) const {
  if (index < positional.size()) return &positional[index];
  for (const auto& [n, v] : named)
    if (n == name) return &v;
  return nullptr;
}

Value Value::undefined(std::string message) {
  Value v;
  v.s_ = std::make_shared<std::string>(std::move(message));
  return v;
}

Value Value::none() {
  Value v;
  v.kind_ = Kind::None;
  return v;
}

Value::Value(bool b) : kind_(Kind::Bool), b_(b) {}
Value::Value(int64_t v) : kind_(Kind::Int), i_(v) {}
Value::Value(double v) : kind_(Kind::Float), f_(v) {}
Value::Value(std::string s) : kind_(Kind::String), s_(std::make_shared<std::string>(std::move(s))) {}

Value Value::markup(std::string s) {
  Value v(std::move(s));
  v.b_ = true;
  return v;
}

Value Value::list(std::vector<Value> items) {
  Value v;
  v.kind_ = Kind::List;
  v.list_ = std::make_shared<ListData>();
  v.list_->items = std::move(items);
  return v;
}

Value Value::tuple(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.list_->tuple = true;
  return v;
}

Value Value::generator(std::vector<Value> items) {
  Value v = list(std::move(items));
  v.list_->generator = true;
  return v;
}

Value Value::dict(DictData::Flavor flavor) {
  Value v;
  v.kind_ = Kind::Dict;
  v.dict_ = std::make_shared<DictData>();
  v.dict_->flavor = flavor;
  return v;
}

Value Value::function(std::string name, std::function<Value(CallArgs&)> fn) {
  Value v;
  v.kind_ = Kind::Function;
  v.fn_ = std::make_shared<Function>(Function{std::move(name), std::move(fn)});
  return v;
}

double Value::as_float() const {
  switch (kind_) {
    case Kind::Float: return f_;
    case Kind::Int: return static_cast<double>(i_);
    case Kind::Bool: return b_ ? 1.0 : 0.0;
    default: return 0;
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::Undefined:
    case Kind::None: return false;
    case Kind::Bool: return b_;
    case Kind::Int: return i_ != 0;
    case Kind::Float: return f_ != 0;
    case Kind::String: return !s_->empty();
    case Kind::List: return list_->generator || !list_->items.empty();
    case Kind::Dict: return dict_->flavor != DictData::Flavor::Dict || !dict_->items.empty();
    case Kind::Function: return true;
  }
  return false;
}

void Value::require_defined() const {
  if (kind_ == Kind::Undefined) runtime_error(s_ ? *s_ : std::string("value is undefined"));
}

std::string Value::type_name() const {
  switch (kind_) {
    case Kind::Undefined: return "Undefined";
    case Kind::None: return "NoneType";
    case Kind::Bool: return "bool";
    case Kind::Int: return "int";
    case Kind::Float: return "float";
    case Kind::String: return "str";
    case Kind::List: return list_->generator ? "generator" : list_->tuple ? "tuple" : "list";
    case Kind::Dict:
      switch (dict_->flavor) {
        case DictData::Flavor::Namespace: return "Namespace";
        case DictData::Flavor::Loop: return "LoopContext";
        default: return "dict";
      }
    case Kind::Function: return "function";
  }
  return "object";
}

std::string Value::object_type_repr() const {
  if (kind_ == Kind::None) return "None";
  if (is_namespace()) return "jinja2.utils.Namespace object";
  if (is_dict() && dict_->flavor == DictData::Flavor::Loop) return "jinja2.runtime.LoopContext object";
  return type_name() + " object";
}

bool Value::same_identity(const Value& o) const {
  if (kind_ != o.kind_) return false;
  switch (kind_) {
    case Kind::List: return list_ == o.list_;
    case Kind::Dict: return dict_ == o.dict_;
    case Kind::Function: return fn_ == o.fn_;
    default: return equals(*this, o);
  }
}

std::string repr_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  if (d == 0) return std::signbit(d) ? "-0.0" : "0.0";
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::scientific);
  std::string sci(buf, res.ptr);
  bool neg = sci[0] == '-';
  if (neg) sci.erase(0, 1);
  size_t epos = sci.find('e');
  int exp = std::stoi(sci.substr(epos + 1));
  std::string digits;
  for (char c : sci.substr(0, epos))
    if (c != '.') digits += c;
  std::string out = neg ? "-" : "";
  // Python's repr switches to exponent notation outside 1e-4 <= |d| < 1e16.
  if (exp < -4 || exp >= 16) {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char e[16];
    std::snprintf(e, sizeof e, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    return out + e;
  }
  if (exp < 0) return out + "0." + std::string(static_cast<size_t>(-exp - 1), '0') + digits;
  size_t int_len = static_cast<size_t>(exp) + 1;
  if (digits.size() <= int_len) return out + digits + std::string(int_len - digits.size(), '0') + ".0";
  return out + digits.substr(0, int_len) + "." + digits.substr(int_len);
}

namespace {

// Decodes one UTF-8 code point at s[i]; advances i. Invalid bytes come back as themselves.
uint32_t decode_utf8(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  int n = c < 0x80 ? 0 : (c >> 5) == 6 ? 1 : (c >> 4) == 14 ? 2 : (c >> 3) == 30 ? 3 : -1;
  bool ok = n > 0 && i + static_cast<size_t>(n) < s.size();
  for (int k = 1; ok && k <= n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
  if (!ok) {
    ++i;
    return c;
  }
  uint32_t cp = c & (0x3f >> n);
  for (int k = 1; k <= n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  i += static_cast<size_t>(n) + 1;
  return cp;
}

bool printable(uint32_t cp) {
  if (cp < 0x20 || (cp >= 0x7f && cp <= 0xa0) || cp == 0xad) return false;
  if (cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200f) || (cp >= 0x2028 && cp <= 0x202f)) return false;
  if ((cp >= 0x205f && cp <= 0x206f) || cp == 0x3000 || cp == 0xfeff) return false;
  if ((cp >= 0xd800 && cp <= 0xf8ff) || (cp >= 0xfff9 && cp <= 0xfffb)) return false;
  return true;
}

}  // namespace

std::string repr_string(std::string_view s) {
  char quote = (s.find('\'') != std::string_view::npos && s.find('"') == std::string_view::npos) ? '"' : '\'';
  std::string out(1, quote);
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    uint32_t cp = decode_utf8(s, i);
    char buf[16];
    if (cp == '\\') out += "\\\\";
    else if (cp == static_cast<uint32_t>(quote)) out += std::string("\\") + quote;
    else if (cp == '\n') out += "\\n";
    else if (cp == '\r') out += "\\r";
    else if (cp == '\t') out += "\\t";
    else if (printable(cp)) out.append(s.substr(start, i - start));
    else {
      if (cp < 0x100) std::snprintf(buf, sizeof buf, "\\x%02x", cp);
      else std::snprintf(buf, sizeof buf, "\\u%04x", cp);
      out += buf;
    }
  }
  out += quote;
  return out;
}

std::string to_repr(const Value& v) {
  // A namespace can contain itself; Python stops such recursion too.
  thread_local int depth = 0;
  struct Guard {
    Guard() {
      if (++depth > 256) {
        depth = 0;
        runtime_error("maximum recursion depth exceeded while getting the repr of an object");
      }
    }
    ~Guard() {
      if (depth > 0) --depth;
    }
  } guard;
  switch (v.kind()) {
    case Value::Kind::String: return repr_string(v.as_string());
    case Value::Kind::Undefined: return "Undefined";
    case Value::Kind::List: {
      if (v.is_generator()) return "<generator object>";
      const auto& items = v.items();
      std::string out = v.is_tuple() ? "(" : "[";
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += ", ";
        out += to_repr(items[i]);
      }
      if (v.is_tuple() && items.size() == 1) out += ",";
      return out + (v.is_tuple() ? ")" : "]");
    }
    case Value::Kind::Dict: {
      const auto& d = v.dict_data();
      std::string out = "{";
      for (size_t i = 0; i < d.items.size(); ++i) {
        if (i) out += ", ";
        out += to_repr(d.items[i].first) + ": " + to_repr(d.items[i].second);
      }
      out += "}";
      if (d.flavor == DictData::Flavor::Namespace) return "<Namespace " + out + ">";
      if (d.flavor == DictData::Flavor::Loop) return "<LoopContext>";
      return out;
    }
    default: return to_str(v);
  }
}

std::string to_str(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return "";
    case Value::Kind::None: return "None";
    case Value::Kind::Bool: return v.as_bool() ? "True" : "False";
    case Value::Kind::Int: return std::to_string(v.as_int());
    case Value::Kind::Float: return repr_float(v.as_float());
    case Value::Kind::String: return v.as_string();
    case Value::Kind::Function: return "<function " + v.fn().name + ">";
    default: return to_repr(v);
  }
}

bool equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() == b.as_float();
    return a.as_int() == b.as_int();
  }
  if (a.kind() != b.kind()) return false;
  switch (a.kind()) {
    case Value::Kind::Undefined:
    case Value::Kind::None: return true;
    case Value::Kind::String: return a.as_string() == b.as_string();
    case Value::Kind::List: {
      if (a.is_generator() || b.is_generator()) return a.same_identity(b);
      if (a.is_tuple() != b.is_tuple() || a.items().size() != b.items().size()) return false;
      for (size_t i = 0; i < a.items().size(); ++i)
        if (!equals(a.items()[i], b.items()[i])) return false;
      return true;
    }
    case Value::Kind::Dict: {
      const auto& da = a.dict_data();
      const auto& db = b.dict_data();
      if (da.flavor != DictData::Flavor::Dict || db.flavor != DictData::Flavor::Dict)
        return &da == &db;
      if (da.items.size() != db.items.size()) return false;
      for (const auto& [k, v] : da.items) {
        const Value* o = db.find(k);
        if (!o || !equals(v, *o)) return false;
      }
      return true;
    }
    default: return a.same_identity(b);
  }
}

bool less_than(const Value& a, const Value& b, const char* op) {
  a.require_defined();
  b.require_defined();
  if (a.is_number() && b.is_number()) {
    if (a.is_float() || b.is_float()) return a.as_float() < b.as_float();
    return a.as_int() < b.as_int();
  }
  if (a.is_string() && b.is_string()) return a.as_string() < b.as_string();
  if (a.is_list() && b.is_list() && a.is_tuple() == b.is_tuple()) {
    const auto& x = a.items();
    const auto& y = b.items();
    for (size_t i = 0; i < x.size() && i < y.size(); ++i) {
      if (equals(x[i], y[i])) continue;
      return less_than(x[i], y[i], op);
    }
    return x.size() < y.size();
  }
  runtime_error(fmt::format("'{}' not supported between instances of '{}' and '{}'", op, a.type_name(),
                            b.type_name()));
}

std::vector<Value> iterate(const Value& v) {
  switch (v.kind()) {
    case Value::Kind::Undefined: return {};
    case Value::Kind::List: return v.items();
    case Value::Kind::Dict: {
      if (v.dict_data().flavor != DictData::Flavor::Dict) break;
      std::vector<Value> keys;
      for (const auto& kv : v.dict_data().items) keys.push_back(kv.first);
      return keys;
    }
    case Value::Kind::String: {
      std::vector<Value> out;
      for (auto& c : utf8_chars(v.as_string())) out.emplace_back(std::move(c));
      return out;
    }
    default: break;
  }
  runtime_error(fmt::format("'{}' object is not iterable", v.type_name()));
}

std::vector<std::string> utf8_chars(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    decode_utf8(s, i);
    out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

size_t utf8_length(std::string_view s) {
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    decode_utf8(s, i);
    ++n;
  }
  return n;
}

void runtime_error(std::string message) { throw TemplateError(std::move(message), 0); }

}  // namespace ember::jinja
