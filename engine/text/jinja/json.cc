// JSON in (messages and tools handed to a template) and out (the tojson filter, with the
// options transformers' override of it accepts).
#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>

#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/error.h"
#include "engine/text/jinja/pystr.h"

namespace ember::jinja {
namespace {

constexpr int kMaxJsonDepth = 512;

void escape_string(std::string& out, std::string_view s, bool ensure_ascii) {
  out += '"';
  auto cps = pystr::decode(s);
  char buf[16];
  for (uint32_t cp : cps) {
    switch (cp) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (cp < 0x20 || (ensure_ascii && cp >= 0x7f)) {
          if (cp >= 0x10000) {
            uint32_t v = cp - 0x10000;
            std::snprintf(buf, sizeof buf, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
          } else {
            std::snprintf(buf, sizeof buf, "\\u%04x", cp);
          }
          out += buf;
        } else {
          pystr::append_utf8(out, cp);
        }
    }
  }
  out += '"';
}

std::string json_float(double d) {
  if (std::isnan(d)) return "NaN";
  if (std::isinf(d)) return d > 0 ? "Infinity" : "-Infinity";
  return repr_float(d);
}

std::string key_string(const Value& k) {
  switch (k.kind()) {
    case Value::Kind::String: return k.as_string();
    case Value::Kind::Bool: return k.as_bool() ? "true" : "false";
    case Value::Kind::None: return "null";
    case Value::Kind::Int: return std::to_string(k.as_int());
    case Value::Kind::Float: return json_float(k.as_float());
    default:
      runtime_error(fmt::format("keys must be str, int, float, bool or None, not {}", k.type_name()));
  }
}

void dump(std::string& out, const Value& v, const JsonOptions& o, int depth) {
  if (depth > kMaxJsonDepth) runtime_error("maximum recursion depth exceeded while encoding a JSON object");
  auto newline = [&](int level) {
    out += '\n';
    for (int i = 0; i < level; ++i) out += *o.indent;
  };
  switch (v.kind()) {
    case Value::Kind::None: out += "null"; return;
    case Value::Kind::Bool: out += v.as_bool() ? "true" : "false"; return;
    case Value::Kind::Int: out += std::to_string(v.as_int()); return;
    case Value::Kind::Float: out += json_float(v.as_float()); return;
    case Value::Kind::String: escape_string(out, v.as_string(), o.ensure_ascii); return;
    case Value::Kind::List: {
      if (v.is_generator()) break;
      const auto& items = v.items();
      if (items.empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.indent) newline(depth + 1);
        dump(out, items[i], o, depth + 1);
      }
      if (o.indent) newline(depth);
      out += ']';
      return;
    }
    case Value::Kind::Dict: {
      if (v.dict_data().flavor != DictData::Flavor::Dict) break;
      std::vector<std::pair<std::string, const Value*>> items;
      for (const auto& [k, val] : v.dict_data().items) items.emplace_back(key_string(k), &val);
      if (o.sort_keys) {
        for (const auto& [k, val] : v.dict_data().items)
          if (!k.is_string()) runtime_error("'<' not supported between instances of non-str keys");
        std::stable_sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
      }
      if (items.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      for (size_t i = 0; i < items.size(); ++i) {
        if (i) out += o.item_separator;
        if (o.indent) newline(depth + 1);
        escape_string(out, items[i].first, o.ensure_ascii);
        out += o.key_separator;
        dump(out, *items[i].second, o, depth + 1);
      }
      if (o.indent) newline(depth);
      out += '}';
      return;
    }
    default: break;
  }
  runtime_error(fmt::format("Object of type {} is not JSON serializable", v.type_name()));
}

// A small recursive-descent JSON reader. Python's json module is the model: integers beyond
// 64 bits (tokenizer configs write model_max_length as 1e30 spelled out) become floats here
// instead of failing, and objects keep their key order.
class JsonReader {
 public:
  explicit JsonReader(std::string_view text) : s_(text) {}

  Value document() {
    Value v = value(0);
    skip_ws();
    if (p_ != s_.size()) error("extra data");
    return v;
  }

 private:
  [[noreturn]] void error(const std::string& what) const { fail("invalid JSON at offset {}: {}", p_, what); }

  void skip_ws() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\t' || s_[p_] == '\n' || s_[p_] == '\r')) ++p_;
  }

  bool literal(std::string_view word) {
    if (s_.compare(p_, word.size(), word) != 0) return false;
    p_ += word.size();
    return true;
  }

  Value value(int depth) {
    if (depth > kMaxJsonDepth) error("nested too deeply");
    skip_ws();
    if (p_ >= s_.size()) error("unexpected end");
    char c = s_[p_];
    if (c == '{') {
      ++p_;
      Value d = Value::dict();
      skip_ws();
      if (p_ < s_.size() && s_[p_] == '}') {
        ++p_;
        return d;
      }
      while (true) {
        skip_ws();
        if (p_ >= s_.size() || s_[p_] != '"') error("expected a key");
        Value key(string());
        skip_ws();
        if (p_ >= s_.size() || s_[p_] != ':') error("expected ':'");
        ++p_;
        d.dict_data().set(std::move(key), value(depth + 1));
        skip_ws();
        if (p_ < s_.size() && s_[p_] == ',') {
          ++p_;
          continue;
        }
        if (p_ < s_.size() && s_[p_] == '}') {
          ++p_;
          return d;
        }
        error("expected ',' or '}'");
      }
    }
    if (c == '[') {
      ++p_;
      std::vector<Value> items;
      skip_ws();
      if (p_ < s_.size() && s_[p_] == ']') {
        ++p_;
        return Value::list({});
      }
      while (true) {
        items.push_back(value(depth + 1));
        skip_ws();
        if (p_ < s_.size() && s_[p_] == ',') {
          ++p_;
          continue;
        }
        if (p_ < s_.size() && s_[p_] == ']') {
          ++p_;
          return Value::list(std::move(items));
        }
        error("expected ',' or ']'");
      }
    }
    if (c == '"') return Value(string());
    if (literal("true")) return Value(true);
    if (literal("false")) return Value(false);
    if (literal("null")) return Value::none();
    if (literal("NaN")) return Value(std::nan(""));
    if (literal("Infinity")) return Value(HUGE_VAL);
    if (literal("-Infinity")) return Value(-HUGE_VAL);
    return number();
  }

  Value number() {
    size_t start = p_;
    if (p_ < s_.size() && s_[p_] == '-') ++p_;
    size_t digits = p_;
    while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    if (p_ == digits) error("unexpected character");
    bool is_float = false;
    if (p_ < s_.size() && s_[p_] == '.') {
      is_float = true;
      ++p_;
      while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    }
    if (p_ < s_.size() && (s_[p_] == 'e' || s_[p_] == 'E')) {
      is_float = true;
      ++p_;
      if (p_ < s_.size() && (s_[p_] == '+' || s_[p_] == '-')) ++p_;
      while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    }
    std::string text(s_.substr(start, p_ - start));
    if (!is_float) {
      errno = 0;
      long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno != ERANGE) return Value(static_cast<int64_t>(v));
    }
    return Value(std::strtod(text.c_str(), nullptr));
  }

  uint32_t hex4() {
    if (p_ + 4 > s_.size()) error("truncated \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[p_++];
      v <<= 4;
      if (h >= '0' && h <= '9') v |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f') v |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F') v |= static_cast<uint32_t>(h - 'A' + 10);
      else error("bad \\u escape");
    }
    return v;
  }

  std::string string() {
    ++p_;  // opening quote
    std::string out;
    while (true) {
      if (p_ >= s_.size()) error("unterminated string");
      char c = s_[p_++];
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (p_ >= s_.size()) error("unterminated string");
      char e = s_[p_++];
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          uint32_t cp = hex4();
          if (cp >= 0xd800 && cp < 0xdc00 && s_.compare(p_, 2, "\\u") == 0) {
            size_t save = p_;
            p_ += 2;
            uint32_t lo = hex4();
            if (lo >= 0xdc00 && lo < 0xe000) cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            else p_ = save;
          }
          pystr::append_utf8(out, cp);
          break;
        }
        default: error("bad escape");
      }
    }
  }

  std::string_view s_;
  size_t p_ = 0;
};

}  // namespace

std::string to_json(const Value& v, const JsonOptions& options) {
  std::string out;
  dump(out, v, options, 0);
  return out;
}

Value from_json(std::string_view text) { return JsonReader(text).document(); }

}  // namespace ember::jinja
