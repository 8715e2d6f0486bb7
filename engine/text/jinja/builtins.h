#pragma once
// The built-in library a template sees: attribute/item access with the immutable sandbox's
// rules, Python methods of str/list/dict, Jinja filters and tests, and JSON in and out.
#include <optional>
#include <string>
#include <string_view>

#include "engine/text/jinja/value.h"

namespace ember::jinja {

// obj.name and obj[key] as jinja2's sandboxed getattr/getitem: a missing attribute is an
// Undefined that fails when used, with jinja2's message.
Value get_attr(const Value& obj, const std::string& name);
Value get_item(const Value& obj, const Value& key);
Value get_slice(const Value& obj, const Value& start, const Value& stop, const Value& step);

// Filters and tests, looked up by name (nullptr when unknown).
using FilterFn = Value (*)(const Value& input, CallArgs& args);
using TestFn = bool (*)(const Value& input, CallArgs& args);
FilterFn find_filter(std::string_view name);
TestFn find_test(std::string_view name);

// HTML escaping as markupsafe.escape (& < > ' ").
std::string html_escape(std::string_view s);

// Python's len(); fails like Python for values without one.
int64_t length_of(const Value& v);
// Python's `item in container`.
bool contains(const Value& container, const Value& item);
// Python's "fmt % args".
std::string percent_format(const std::string& fmt, const Value& args);

// json.dumps as transformers' tojson filter calls it.
struct JsonOptions {
  bool ensure_ascii = false;
  std::optional<std::string> indent;  // none: single line
  std::string item_separator = ", ";
  std::string key_separator = ": ";
  bool sort_keys = false;
};
std::string to_json(const Value& v, const JsonOptions& options);
// Parses JSON text (objects keep their key order).
Value from_json(std::string_view text);

// Helpers for filters and methods: argument coercion with Python-like errors.
std::string arg_string(const CallArgs& args, size_t index, std::string_view name, std::string_view fallback);
int64_t arg_int(const CallArgs& args, size_t index, std::string_view name, int64_t fallback);
bool arg_bool(const CallArgs& args, size_t index, std::string_view name, bool fallback);

}  // namespace ember::jinja
