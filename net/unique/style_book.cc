#include "net/unique/style_book.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include <simdjson.h>
#include <toml++/toml.h>

#include "engine/core/error.h"
#include "engine/sample/philox.h"

namespace ember::net::unique {
namespace {

// Part of the Philox counter, so style draws never reuse the sampler's numbers ("STYL").
constexpr uint32_t kStylePurpose = 0x5354594Cu;

std::string entry_name(const std::string& origin, size_t i, const std::string& name) {
  return name.empty() ? fmt::format("{}: styles[{}]", origin, i)
                      : fmt::format("{}: styles[{}] (\"{}\")", origin, i, name);
}

std::string read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) fail("--styles {}: cannot open the file", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

StyleBook StyleBook::from_styles(std::vector<Style> styles, const std::string& origin) {
  if (styles.empty()) fail("{}: no styles (expected an array `styles` of {{name, text, weight}})", origin);
  StyleBook b;
  b.origin_ = origin;
  std::set<std::string> seen;
  double total = 0;
  for (size_t i = 0; i < styles.size(); ++i) {
    const Style& s = styles[i];
    if (s.name.empty()) fail("{}: `name` is missing or empty", entry_name(origin, i, s.name));
    if (!seen.insert(s.name).second) fail("{}: the name is used twice", entry_name(origin, i, s.name));
    if (s.text.find_first_not_of(" \t\r\n") == std::string::npos)
      fail("{}: `text` is missing or empty", entry_name(origin, i, s.name));
    if (!std::isfinite(s.weight) || s.weight < 0)
      fail("{}: `weight` must be a finite number >= 0, got {}", entry_name(origin, i, s.name), s.weight);
    total += s.weight;
    b.cumulative_.push_back(total);
  }
  if (!(total > 0)) fail("{}: every weight is 0, so no style can be drawn", origin);
  b.styles_ = std::move(styles);
  return b;
}

StyleBook StyleBook::parse_toml(std::string_view text, const std::string& origin) {
  toml::table t;
  try {
    t = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    fail("{}: TOML error at line {}: {}", origin, e.source().begin.line, e.description());
  }
  const toml::array* arr = t["styles"].as_array();
  if (!arr) fail("{}: expected an array of tables `[[styles]]` with name, text and weight", origin);
  std::vector<Style> out;
  for (size_t i = 0; i < arr->size(); ++i) {
    const toml::table* e = arr->get(i)->as_table();
    if (!e) fail("{}: styles[{}] is not a table", origin, i);
    Style s;
    if (auto v = (*e)["name"].value<std::string>()) s.name = *v;
    else if ((*e).contains("name")) fail("{}: `name` must be a string", entry_name(origin, i, ""));
    if (auto v = (*e)["text"].value<std::string>()) s.text = *v;
    else if ((*e).contains("text")) fail("{}: `text` must be a string", entry_name(origin, i, s.name));
    if ((*e).contains("weight")) {
      auto v = (*e)["weight"].value<double>();
      if (!v) fail("{}: `weight` must be a number", entry_name(origin, i, s.name));
      s.weight = *v;
    }
    for (const auto& [k, _] : *e)
      if (k != "name" && k != "text" && k != "weight")
        fail("{}: unknown key `{}` (expected name, text, weight)", entry_name(origin, i, s.name), k.str());
    out.push_back(std::move(s));
  }
  return from_styles(std::move(out), origin);
}

StyleBook StyleBook::parse_json(std::string_view text, const std::string& origin) {
  simdjson::dom::parser parser;
  simdjson::padded_string padded(text);
  simdjson::dom::element root;
  if (auto err = parser.parse(padded).get(root)) fail("{}: JSON error: {}", origin, simdjson::error_message(err));
  simdjson::dom::array arr;
  if (root.is_array()) {
    arr = root.get_array().value_unsafe();
  } else if (root.is_object()) {
    if (root["styles"].get_array().get(arr))
      fail("{}: expected {{\"styles\": [{{\"name\", \"text\", \"weight\"}}, ...]}}", origin);
  } else {
    fail("{}: expected {{\"styles\": [...]}} or an array of styles", origin);
  }
  std::vector<Style> out;
  size_t i = 0;
  for (simdjson::dom::element el : arr) {
    simdjson::dom::object o;
    if (el.get_object().get(o)) fail("{}: styles[{}] is not an object", origin, i);
    Style s;
    for (auto [k, v] : o) {
      if (k == "name") {
        std::string_view sv;
        if (v.get_string().get(sv)) fail("{}: `name` must be a string", entry_name(origin, i, ""));
        s.name = std::string(sv);
      } else if (k == "text") {
        std::string_view sv;
        if (v.get_string().get(sv)) fail("{}: `text` must be a string", entry_name(origin, i, s.name));
        s.text = std::string(sv);
      } else if (k == "weight") {
        double d;
        if (v.is_int64()) d = double(v.get_int64().value_unsafe());
        else if (v.is_uint64()) d = double(v.get_uint64().value_unsafe());
        else if (v.get_double().get(d)) fail("{}: `weight` must be a number", entry_name(origin, i, s.name));
        s.weight = d;
      } else {
        fail("{}: unknown key `{}` (expected name, text, weight)", entry_name(origin, i, s.name), std::string(k));
      }
    }
    out.push_back(std::move(s));
    ++i;
  }
  return from_styles(std::move(out), origin);
}

StyleBook StyleBook::load(const std::string& path) {
  if (path == "builtin") return builtin();
  if (ends_with(path, ".toml")) return parse_toml(read_file(path), path);
  if (ends_with(path, ".json")) return parse_json(read_file(path), path);
  fail("--styles {}: expected a .toml or .json file, or `builtin`", path);
}

const Style& StyleBook::draw(uint64_t seed, uint32_t index) const {
  const PhiloxCounter c = philox4x32_10({index, 0, 0, kStylePurpose}, {uint32_t(seed), uint32_t(seed >> 32)});
  const double u = double((uint64_t(c[0]) << 32 | c[1]) >> 11) * 0x1.0p-53;
  const double x = u * cumulative_.back();
  size_t i = size_t(std::upper_bound(cumulative_.begin(), cumulative_.end(), x) - cumulative_.begin());
  i = std::min(i, styles_.size() - 1);
  while (styles_[i].weight <= 0 && i > 0) --i;  // a zero weight's empty interval can't be hit, but be safe
  return styles_[i];
}

StylePlacement placement_of(StylePlacement p, uint32_t index) {
  if (p != StylePlacement::kMixed) return p;
  return index % 2 ? StylePlacement::kAfterPrompt : StylePlacement::kSystem;
}

std::vector<ChatMessage> apply_style(const std::vector<ChatMessage>& messages, const Style& style,
                                     bool system_role, StylePlacement placement) {
  std::vector<ChatMessage> out = messages;
  std::string prefix;  // goes in front of the conversation
  bool placed = false;
  if (placement == StylePlacement::kAfterPrompt) {
    for (auto it = out.rbegin(); it != out.rend() && !placed; ++it)
      if (it->role == "user") {
        it->content += "\n\n(" + style.text + ")";
        placed = true;
      }
  }
  if (!placed) prefix = style.text;
  if (system_role) {
    if (prefix.empty()) return out;
    // One system message: many templates accept a system turn only in first place.
    if (!out.empty() && out.front().role == "system") {
      out.front().content = out.front().content.empty() ? prefix : out.front().content + "\n\n" + prefix;
    } else {
      out.insert(out.begin(), ChatMessage{"system", prefix});
    }
    return out;
  }
  // The template refuses "system": the style (unless placed after the prompt) and any system
  // text the caller sent go in front of the first user turn (where such templates put a system
  // prompt themselves).
  std::vector<ChatMessage> rest;
  for (auto& m : out) {
    if (m.role == "system") {
      if (!m.content.empty()) prefix += (prefix.empty() ? "" : "\n\n") + m.content;
    } else {
      rest.push_back(std::move(m));
    }
  }
  if (prefix.empty()) return rest;
  for (auto& m : rest)
    if (m.role == "user") {
      m.content = prefix + "\n\n" + m.content;
      return rest;
    }
  rest.insert(rest.begin(), ChatMessage{"user", prefix});
  return rest;
}

}  // namespace ember::net::unique
