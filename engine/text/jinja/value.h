#pragma once
// The value model of the template interpreter: Python's data model as far as chat templates see
// it (None, bool, int, float, str, list/tuple, dict, callables) plus Jinja's Undefined. Values
// print, compare and test for truth the way Python does, so renders match the reference byte for
// byte.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ember::jinja {

class Value;

struct ListData {
  std::vector<Value> items;
  bool tuple = false;      // prints as (a, b); otherwise identical to a list here
  bool generator = false;  // a lazy result (select, map, ...): always true, no len(), no [i]
};

// Insertion-ordered, like Python dicts. Namespaces (namespace()) and loop objects reuse it.
struct DictData {
  enum class Flavor { Dict, Namespace, Loop };
  std::vector<std::pair<Value, Value>> items;
  Flavor flavor = Flavor::Dict;

  const Value* find(const Value& key) const;
  Value* find(const Value& key);
  void set(Value key, Value value);
};

struct CallArgs {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> named;

  // The argument named `name` or at `index` (Python's signature binding, simplified).
  const Value* get(size_t index, std::string_view name) const;
};

struct Function {
  std::string name;
  std::function<Value(CallArgs&)> call;
};

class Value {
 public:
  enum class Kind { Undefined, None, Bool, Int, Float, String, List, Dict, Function };

  Value() = default;  // Undefined
  static Value undefined(std::string message);  // message is the error raised on use
  static Value none();
  Value(bool b);
  Value(int v) : Value(static_cast<int64_t>(v)) {}
  Value(int64_t v);
  Value(double v);
  Value(std::string s);
  Value(const char* s) : Value(std::string(s)) {}
  // jinja2's Markup: a string marked safe (|safe, |escape). `+` with a Markup HTML-escapes the
  // other operand, which some templates depend on.
  static Value markup(std::string s);
  static Value list(std::vector<Value> items = {});
  static Value tuple(std::vector<Value> items);
  static Value generator(std::vector<Value> items);
  static Value dict(DictData::Flavor flavor = DictData::Flavor::Dict);
  static Value function(std::string name, std::function<Value(CallArgs&)> fn);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::Undefined; }
  bool is_none() const { return kind_ == Kind::None; }
  bool is_bool() const { return kind_ == Kind::Bool; }
  bool is_int() const { return kind_ == Kind::Int; }
  bool is_float() const { return kind_ == Kind::Float; }
  bool is_number() const { return kind_ == Kind::Int || kind_ == Kind::Float || kind_ == Kind::Bool; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_markup() const { return kind_ == Kind::String && b_; }
  bool is_list() const { return kind_ == Kind::List; }
  bool is_tuple() const { return kind_ == Kind::List && list_->tuple; }
  bool is_generator() const { return kind_ == Kind::List && list_->generator; }
  bool is_dict() const { return kind_ == Kind::Dict; }
  bool is_namespace() const { return is_dict() && dict_->flavor == DictData::Flavor::Namespace; }
  bool is_function() const { return kind_ == Kind::Function; }

  bool as_bool() const { return b_; }
  int64_t as_int() const { return kind_ == Kind::Bool ? (b_ ? 1 : 0) : i_; }
  double as_float() const;  // any number
  const std::string& as_string() const { return *s_; }
  std::vector<Value>& items() const { return list_->items; }
  DictData& dict_data() const { return *dict_; }
  const Function& fn() const { return *fn_; }
  const std::string& undefined_message() const { return *s_; }

  bool truthy() const;

  // Raises the stored UndefinedError when this is Undefined (every "use" of an undefined value).
  void require_defined() const;

  // Python's type name, as in "'int' object is not iterable".
  std::string type_name() const;
  // Jinja's object_type_repr, as in "'dict object' has no attribute 'x'".
  std::string object_type_repr() const;

  bool same_identity(const Value& o) const;

 private:
  Kind kind_ = Kind::Undefined;
  bool b_ = false;
  int64_t i_ = 0;
  double f_ = 0;
  std::shared_ptr<std::string> s_;  // String text, or Undefined's error message
  std::shared_ptr<ListData> list_;
  std::shared_ptr<DictData> dict_;
  std::shared_ptr<Function> fn_;
};

// Python str(): what {{ value }} prints.
std::string to_str(const Value& v);
// Python repr(), used inside containers.
std::string to_repr(const Value& v);
std::string repr_string(std::string_view s);
std::string repr_float(double d);

// Python ==, and ordering (<) with Python's TypeError for unorderable pairs.
bool equals(const Value& a, const Value& b);
bool less_than(const Value& a, const Value& b, const char* op = "<");

// Items a for loop (or list()) visits: list items, dict keys, string characters.
std::vector<Value> iterate(const Value& v);

// UTF-8 helpers: Python indexes strings by code point.
std::vector<std::string> utf8_chars(std::string_view s);
size_t utf8_length(std::string_view s);

}  // namespace ember::jinja
