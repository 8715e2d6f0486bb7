// Runs a parsed template: scopes as jinja2 compiles them (a for-loop iteration and a macro call
// each get a fresh scope; if blocks do not), Python operator semantics, macros, call and filter
// blocks, loop controls, and the render limits.
#include <cmath>
#include <unordered_map>

#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/parser.h"
#include "engine/text/jinja/template.h"

namespace ember::jinja {
namespace {

struct Scope {
  std::unordered_map<std::string, Value> vars;
  std::shared_ptr<Scope> parent;
};
using ScopePtr = std::shared_ptr<Scope>;

enum class Flow { Normal, Break, Continue };

class Interpreter {
 public:
  Interpreter(const Value& globals, const RenderLimits& limits) : globals_(globals), limits_(limits) {}
  Interpreter(const Interpreter&) = delete;
  Interpreter& operator=(const Interpreter&) = delete;

  // Namespaces are the only mutable containers, so the only way to build a reference cycle
  // ({% set ns.self = ns %}); emptying them at the end frees such cycles.
  ~Interpreter() {
    for (auto& ns : namespaces_) ns.dict_data().items.clear();
  }

  std::string run(const Body& body) {
    auto scope = std::make_shared<Scope>();
    std::string out;
    exec(body, scope, out);
    return out;
  }

 private:
  // ---- limits ----
  void step() {
    if (++steps_ > limits_.max_steps)
      runtime_error(fmt::format("template exceeded the limit of {} steps", limits_.max_steps));
  }
  const Value& checked(const Value& v) const {
    if (v.is_string() && v.as_string().size() > limits_.max_output_bytes)
      runtime_error(fmt::format("template produced a string over the limit of {} bytes", limits_.max_output_bytes));
    if (v.is_list() && v.items().size() > limits_.max_list_items)
      runtime_error(fmt::format("template produced a list over the limit of {} items", limits_.max_list_items));
    return v;
  }
  void append(std::string& out, const std::string& s) const {
    out += s;
    if (out.size() > limits_.max_output_bytes)
      runtime_error(fmt::format("template output exceeded the limit of {} bytes", limits_.max_output_bytes));
  }

  // ---- statements ----
  Flow exec(const Body& body, const ScopePtr& scope, std::string& out) {
    for (const auto& s : body) {
      Flow f = exec_stmt(*s, scope, out);
      if (f != Flow::Normal) return f;
    }
    return Flow::Normal;
  }

  Flow exec_stmt(const Stmt& s, const ScopePtr& scope, std::string& out) {
    step();
    try {
      return exec_inner(s, scope, out);
    } catch (const TemplateError& e) {
      if (e.line() == 0) throw TemplateError(e.message(), s.line);
      throw;
    }
  }

  Flow exec_inner(const Stmt& s, const ScopePtr& scope, std::string& out) {
    switch (s.kind) {
      case Stmt::Kind::Text: append(out, s.text); return Flow::Normal;
      case Stmt::Kind::Print: append(out, to_str(eval(*s.expr, scope))); return Flow::Normal;
      case Stmt::Kind::If:
        for (size_t i = 0; i < s.conds.size(); ++i)
          if (eval(*s.conds[i], scope).truthy()) return exec(s.bodies[i], scope, out);
        if (s.bodies.size() > s.conds.size()) return exec(s.bodies.back(), scope, out);
        return Flow::Normal;
      case Stmt::Kind::For: exec_for(s, scope, out); return Flow::Normal;
      case Stmt::Kind::Set: {
        Value v = eval(*s.expr, scope);
        if (!s.attr.empty()) {
          Value ns = lookup(s.targets[0], scope);
          if (!ns.is_namespace()) runtime_error("cannot assign attribute on non-namespace object");
          ns.dict_data().set(Value(s.attr), v);
        } else {
          assign(s.targets, v, scope);
        }
        return Flow::Normal;
      }
      case Stmt::Kind::SetBlock: {
        std::string text;
        exec(s.body, std::make_shared<Scope>(Scope{{}, scope}), text);
        Value v(std::move(text));
        if (s.filter) v = apply_filter_chain(*s.filter, v, scope);
        scope->vars[s.targets[0]] = v;
        return Flow::Normal;
      }
      case Stmt::Kind::FilterBlock: {
        std::string text;
        exec(s.body, std::make_shared<Scope>(Scope{{}, scope}), text);
        append(out, to_str(apply_filter_chain(*s.filter, Value(std::move(text)), scope)));
        return Flow::Normal;
      }
      case Stmt::Kind::Macro: scope->vars[s.name] = make_macro(s, scope); return Flow::Normal;
      case Stmt::Kind::CallBlock: {
        const Expr& call = *s.expr;
        CallArgs args = eval_args(call, scope);
        Value caller = make_caller(s, scope);
        args.named.emplace_back("caller", caller);
        append(out, to_str(call_value(eval(*call.object, scope), args)));
        return Flow::Normal;
      }
      case Stmt::Kind::Break: return Flow::Break;
      case Stmt::Kind::Continue: return Flow::Continue;
      case Stmt::Kind::Block: return exec(s.body, scope, out);
    }
    return Flow::Normal;
  }

  void assign(const std::vector<std::string>& targets, const Value& v, const ScopePtr& scope) {
    if (targets.size() == 1) {
      scope->vars[targets[0]] = v;
      return;
    }
    auto items = iterate(v);
    if (items.size() > targets.size())
      runtime_error(fmt::format("too many values to unpack (expected {})", targets.size()));
    if (items.size() < targets.size())
      runtime_error(fmt::format("not enough values to unpack (expected {}, got {})", targets.size(), items.size()));
    for (size_t i = 0; i < targets.size(); ++i) scope->vars[targets[i]] = items[i];
  }

  void exec_for(const Stmt& s, const ScopePtr& scope, std::string& out) {
    Value seq = eval(*s.expr, scope);
    std::vector<Value> items = iterate(seq);
    if (s.cond) {
      std::vector<Value> kept;
      for (auto& item : items) {
        step();
        auto test_scope = std::make_shared<Scope>(Scope{{}, scope});
        assign(s.targets, item, test_scope);
        if (eval(*s.cond, test_scope).truthy()) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    if (items.empty()) {
      exec(s.else_body, std::make_shared<Scope>(Scope{{}, scope}), out);
      return;
    }
    const auto n = static_cast<int64_t>(items.size());
    for (int64_t i = 0; i < n; ++i) {
      step();
      auto iter = std::make_shared<Scope>(Scope{{}, scope});
      assign(s.targets, items[static_cast<size_t>(i)], iter);
      iter->vars["loop"] = make_loop(items, i);
      if (exec(s.body, iter, out) == Flow::Break) break;
    }
  }

  static Value make_loop(const std::vector<Value>& items, int64_t i) {
    const auto n = static_cast<int64_t>(items.size());
    Value loop = Value::dict(DictData::Flavor::Loop);
    auto& d = loop.dict_data();
    d.set(Value("index"), Value(i + 1));
    d.set(Value("index0"), Value(i));
    d.set(Value("revindex"), Value(n - i));
    d.set(Value("revindex0"), Value(n - i - 1));
    d.set(Value("first"), Value(i == 0));
    d.set(Value("last"), Value(i == n - 1));
    d.set(Value("length"), Value(n));
    d.set(Value("depth"), Value(static_cast<int64_t>(1)));
    d.set(Value("depth0"), Value(static_cast<int64_t>(0)));
    d.set(Value("previtem"), i > 0 ? items[static_cast<size_t>(i - 1)] : Value::undefined("there is no previous item"));
    d.set(Value("nextitem"), i + 1 < n ? items[static_cast<size_t>(i + 1)] : Value::undefined("there is no next item"));
    d.set(Value("cycle"), Value::function("cycle", [i](CallArgs& a) {
            if (a.positional.empty()) runtime_error("no items for cycling given");
            return a.positional[static_cast<size_t>(i) % a.positional.size()];
          }));
    return loop;
  }

  // A macro holds its defining scope weakly: that scope holds the macro, and a strong reference
  // would be a cycle that is never freed.
  Value make_macro(const Stmt& s, const ScopePtr& def_scope) {
    std::weak_ptr<Scope> weak = def_scope;
    return Value::function(s.name, [this, &s, weak](CallArgs& args) {
      ScopePtr scope = weak.lock();
      if (!scope) runtime_error(fmt::format("macro '{}' was called outside the scope that defined it", s.name));
      return run_macro(s, scope, args, true);
    });
  }

  Value make_caller(const Stmt& s, const ScopePtr& scope) {
    std::weak_ptr<Scope> weak = scope;
    return Value::function("caller", [this, &s, weak](CallArgs& args) {
      ScopePtr sc = weak.lock();
      if (!sc) runtime_error("caller() was called outside its call block");
      return run_macro(s, sc, args, false);
    });
  }

  Value run_macro(const Stmt& s, const ScopePtr& parent, CallArgs& args, bool is_macro) {
    if (call_depth_ >= limits_.max_call_depth)
      runtime_error(fmt::format("macro calls nested deeper than {}", limits_.max_call_depth));
    struct Depth {
      int& d;
      explicit Depth(int& x) : d(x) { ++d; }
      ~Depth() { --d; }
    } depth(call_depth_);
    auto scope = std::make_shared<Scope>(Scope{{}, parent});
    const std::string name = is_macro ? s.name : "caller";
    if (args.positional.size() > s.params.size())
      runtime_error(fmt::format("macro '{}' takes not more than {} argument(s)", name, s.params.size()));
    for (const auto& [n, v] : args.named) {
      bool known = n == "caller" && is_macro;
      for (const auto& p : s.params) known = known || p.first == n;
      if (!known) runtime_error(fmt::format("macro '{}' takes no keyword argument '{}'", name, n));
      scope->vars[n] = v;
    }
    for (size_t i = 0; i < s.params.size(); ++i) {
      const auto& [pname, def] = s.params[i];
      if (i < args.positional.size()) {
        scope->vars[pname] = args.positional[i];
      } else if (!scope->vars.count(pname)) {
        scope->vars[pname] = def ? eval(*def, scope) : Value::undefined(fmt::format("parameter '{}' was not provided", pname));
      }
    }
    std::string out;
    exec(s.body, scope, out);
    return Value(std::move(out));
  }

  // ---- expressions ----
  Value lookup(const std::string& name, const ScopePtr& scope) {
    for (Scope* s = scope.get(); s; s = s->parent.get()) {
      auto it = s->vars.find(name);
      if (it != s->vars.end()) return it->second;
    }
    if (globals_.is_dict())
      if (const Value* v = globals_.dict_data().find(Value(name))) return *v;
    if (Value b = builtin(name); !b.is_undefined()) return b;
    return Value::undefined(fmt::format("'{}' is undefined", name));
  }

  Value builtin(const std::string& name) {
    if (name == "range") return Value::function("range", [this](CallArgs& a) { return range(a); });
    if (name == "namespace" || name == "dict") {
      bool ns = name == "namespace";
      return Value::function(name, [this, ns](CallArgs& a) {
        Value d = Value::dict(ns ? DictData::Flavor::Namespace : DictData::Flavor::Dict);
        for (const auto& p : a.positional) {
          if (!p.is_dict()) runtime_error(fmt::format("'{}' object is not iterable", p.type_name()));
          for (const auto& [k, v] : p.dict_data().items) d.dict_data().set(k, v);
        }
        for (const auto& [k, v] : a.named) d.dict_data().set(Value(k), v);
        if (ns) namespaces_.push_back(d);
        return d;
      });
    }
    return Value();
  }

  Value range(CallArgs& a) {
    if (!a.named.empty()) runtime_error("range() takes no keyword arguments");
    for (const auto& p : a.positional)
      if (!p.is_int() && !p.is_bool())
        runtime_error(fmt::format("'{}' object cannot be interpreted as an integer", p.type_name()));
    int64_t start = 0, stop = 0, st = 1;
    if (a.positional.size() == 1) stop = a.positional[0].as_int();
    else if (a.positional.size() == 2 || a.positional.size() == 3) {
      start = a.positional[0].as_int();
      stop = a.positional[1].as_int();
      if (a.positional.size() == 3) st = a.positional[2].as_int();
    } else {
      runtime_error(fmt::format("range expected at most 3 arguments, got {}", a.positional.size()));
    }
    if (st == 0) runtime_error("range() arg 3 must not be zero");
    double count = std::ceil((static_cast<double>(stop) - static_cast<double>(start)) / static_cast<double>(st));
    if (count > 100000)  // the sandbox's MAX_RANGE
      runtime_error("Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
    std::vector<Value> out;
    for (int64_t i = start; st > 0 ? i < stop : i > stop; i += st) out.emplace_back(i);
    return Value::list(std::move(out));
  }

  CallArgs eval_args(const Expr& e, const ScopePtr& scope) {
    CallArgs a;
    for (const auto& x : e.args) a.positional.push_back(eval(*x, scope));
    for (const auto& [n, x] : e.named) a.named.emplace_back(n, eval(*x, scope));
    return a;
  }

  Value call_value(const Value& fn, CallArgs& args) {
    fn.require_defined();
    if (!fn.is_function()) runtime_error(fmt::format("'{}' object is not callable", fn.type_name()));
    return fn.fn().call(args);
  }

  Value apply_filter_chain(const Expr& e, const Value& input, const ScopePtr& scope) {
    Value v = e.object ? apply_filter_chain(*e.object, input, scope) : input;
    return run_filter(e, v, scope);
  }

  Value run_filter(const Expr& e, const Value& v, const ScopePtr& scope) {
    FilterFn f = find_filter(e.name);
    if (!f) runtime_error(fmt::format("No filter named '{}' found.", e.name));
    CallArgs a = eval_args(e, scope);
    return f(v, a);
  }

  Value eval(const Expr& e, const ScopePtr& scope) {
    switch (e.kind) {
      case Expr::Kind::Literal: return e.literal;
      case Expr::Kind::Name: return lookup(e.name, scope);
      case Expr::Kind::List:
      case Expr::Kind::Tuple: {
        std::vector<Value> items;
        for (const auto& x : e.args) items.push_back(eval(*x, scope));
        return e.kind == Expr::Kind::List ? Value::list(std::move(items)) : Value::tuple(std::move(items));
      }
      case Expr::Kind::Dict: {
        Value d = Value::dict();
        for (size_t i = 0; i + 1 < e.args.size(); i += 2) {
          Value k = eval(*e.args[i], scope);
          if ((k.is_list() && !k.is_tuple()) || k.is_dict())
            runtime_error(fmt::format("unhashable type: '{}'", k.type_name()));
          d.dict_data().set(std::move(k), eval(*e.args[i + 1], scope));
        }
        return d;
      }
      case Expr::Kind::Attr: return get_attr(eval(*e.object, scope), e.name);
      case Expr::Kind::Item: return get_item(eval(*e.object, scope), eval(*e.args[0], scope));
      case Expr::Kind::Slice: {
        Value obj = eval(*e.object, scope);
        Value parts[3];
        for (int i = 0; i < 3; ++i)
          parts[i] = e.args[static_cast<size_t>(i)] ? eval(*e.args[static_cast<size_t>(i)], scope) : Value::none();
        return get_slice(obj, parts[0], parts[1], parts[2]);
      }
      case Expr::Kind::Call: {
        Value fn = eval(*e.object, scope);
        CallArgs a = eval_args(e, scope);
        return checked(call_value(fn, a));
      }
      case Expr::Kind::Filter: {
        Value v = eval(*e.object, scope);
        return checked(run_filter(e, v, scope));
      }
      case Expr::Kind::Test: {
        TestFn t = find_test(e.name);
        if (!t) runtime_error(fmt::format("No test named '{}' found.", e.name));
        Value v = eval(*e.object, scope);
        CallArgs a = eval_args(e, scope);
        return Value(t(v, a) != e.negated);
      }
      case Expr::Kind::Not: return Value(!eval(*e.object, scope).truthy());
      case Expr::Kind::Neg:
      case Expr::Kind::Pos: {
        Value v = eval(*e.object, scope);
        v.require_defined();
        if (!v.is_number())
          runtime_error(fmt::format("bad operand type for unary {}: '{}'", e.kind == Expr::Kind::Neg ? '-' : '+', v.type_name()));
        if (e.kind == Expr::Kind::Pos) return v.is_float() ? v : Value(v.as_int());
        return v.is_float() ? Value(-v.as_float()) : Value(-v.as_int());
      }
      case Expr::Kind::And: {
        Value l = eval(*e.object, scope);
        return l.truthy() ? eval(*e.args[0], scope) : l;
      }
      case Expr::Kind::Or: {
        Value l = eval(*e.object, scope);
        return l.truthy() ? l : eval(*e.args[0], scope);
      }
      case Expr::Kind::Binary: return checked(binary(e.name, eval(*e.object, scope), eval(*e.args[0], scope)));
      case Expr::Kind::Compare: {
        Value l = eval(*e.object, scope);
        for (size_t i = 0; i < e.ops.size(); ++i) {
          Value r = eval(*e.args[i], scope);
          if (!compare(e.ops[i], l, r)) return Value(false);
          l = std::move(r);
        }
        return Value(true);
      }
      case Expr::Kind::Cond:
        if (eval(*e.object, scope).truthy()) return eval(*e.args[0], scope);
        if (e.args[1]) return eval(*e.args[1], scope);
        return Value::undefined(fmt::format(
            "the inline if-expression on line {} evaluated to false and no else section was defined.", e.line));
    }
    return Value();
  }

  static bool compare(const std::string& op, const Value& l, const Value& r) {
    if (op == "==") return equals(l, r);
    if (op == "!=") return !equals(l, r);
    if (op == "<") return less_than(l, r, "<");
    if (op == ">") return less_than(r, l, ">");
    if (op == "<=") {
      l.require_defined();
      r.require_defined();
      return !less_than(r, l, "<=");
    }
    if (op == ">=") {
      l.require_defined();
      r.require_defined();
      return !less_than(l, r, ">=");
    }
    if (op == "in") return contains(r, l);
    return !contains(r, l);  // notin
  }

  [[noreturn]] static void unsupported(const std::string& op, const Value& a, const Value& b) {
    runtime_error(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op, a.type_name(), b.type_name()));
  }

  [[noreturn]] static void overflow() { runtime_error("integer overflow in template arithmetic"); }

  Value repeat(const Value& seq, int64_t n) const {
    if (n < 0) n = 0;
    if (seq.is_string()) {
      if (static_cast<double>(seq.as_string().size()) * static_cast<double>(n) > static_cast<double>(limits_.max_output_bytes))
        runtime_error(fmt::format("template produced a string over the limit of {} bytes", limits_.max_output_bytes));
      std::string out;
      for (int64_t i = 0; i < n; ++i) out += seq.as_string();
      return Value(std::move(out));
    }
    if (static_cast<double>(seq.items().size()) * static_cast<double>(n) > static_cast<double>(limits_.max_list_items))
      runtime_error(fmt::format("template produced a list over the limit of {} items", limits_.max_list_items));
    std::vector<Value> out;
    for (int64_t i = 0; i < n; ++i) out.insert(out.end(), seq.items().begin(), seq.items().end());
    return seq.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
  }

  Value binary(const std::string& op, const Value& a, const Value& b) const {
    if (op == "~") {
      std::string s = to_str(a);
      s += to_str(b);
      return Value(std::move(s));
    }
    a.require_defined();
    b.require_defined();
    const bool nums = a.is_number() && b.is_number();
    const bool fl = a.is_float() || b.is_float();
    if (op == "+") {
      if (nums) {
        if (fl) return Value(a.as_float() + b.as_float());
        int64_t r = 0;
        if (__builtin_add_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value(r);
      }
      if (a.is_string()) {
        if (!b.is_string()) {
          if (a.is_markup() && (b.is_number() || b.is_none() || b.is_list() || b.is_dict()))
            unsupported("+", a, b);
          runtime_error(fmt::format("can only concatenate str (not \"{}\") to str", b.type_name()));
        }
        if (a.is_markup() || b.is_markup()) {
          // Markup + str escapes the plain side (markupsafe's __add__/__radd__).
          return Value::markup((a.is_markup() ? a.as_string() : html_escape(a.as_string())) +
                               (b.is_markup() ? b.as_string() : html_escape(b.as_string())));
        }
        return Value(a.as_string() + b.as_string());
      }
      if (a.is_list() && !a.is_generator()) {
        if (!b.is_list() || b.is_tuple() != a.is_tuple() || b.is_generator())
          runtime_error(fmt::format("can only concatenate {} (not \"{}\") to {}", a.type_name(), b.type_name(), a.type_name()));
        std::vector<Value> out = a.items();
        out.insert(out.end(), b.items().begin(), b.items().end());
        return a.is_tuple() ? Value::tuple(std::move(out)) : Value::list(std::move(out));
      }
      unsupported("+", a, b);
    }
    if (op == "-") {
      if (!nums) unsupported("-", a, b);
      if (fl) return Value(a.as_float() - b.as_float());
      int64_t r = 0;
      if (__builtin_sub_overflow(a.as_int(), b.as_int(), &r)) overflow();
      return Value(r);
    }
    if (op == "*") {
      if (nums) {
        if (fl) return Value(a.as_float() * b.as_float());
        int64_t r = 0;
        if (__builtin_mul_overflow(a.as_int(), b.as_int(), &r)) overflow();
        return Value(r);
      }
      if ((a.is_string() || (a.is_list() && !a.is_generator())) && (b.is_int() || b.is_bool())) return repeat(a, b.as_int());
      if ((b.is_string() || (b.is_list() && !b.is_generator())) && (a.is_int() || a.is_bool())) return repeat(b, a.as_int());
      if (a.is_string() || a.is_list())
        runtime_error(fmt::format("can't multiply sequence by non-int of type '{}'", b.type_name()));
      unsupported("*", a, b);
    }
    if (op == "/") {
      if (!nums) unsupported("/", a, b);
      if (b.as_float() == 0) runtime_error(fl ? "float division by zero" : "division by zero");
      return Value(a.as_float() / b.as_float());
    }
    if (op == "//" || op == "%") {
      if (op == "%" && a.is_string()) return Value(percent_format(a.as_string(), b));
      if (!nums) unsupported(op, a, b);
      if (fl) {
        double x = a.as_float(), y = b.as_float();
        if (y == 0) runtime_error(op == "//" ? "float floor division by zero" : "float modulo");
        double m = std::fmod(x, y);
        if (m != 0 && ((m < 0) != (y < 0))) m += y;
        if (op == "%") return Value(m);
        return Value(std::floor((x - m) / y + 0.5));
      }
      int64_t x = a.as_int(), y = b.as_int();
      if (y == 0) runtime_error("integer division or modulo by zero");
      if (y == -1) {
        if (op == "%") return Value(static_cast<int64_t>(0));
        if (x == INT64_MIN) overflow();
        return Value(-x);
      }
      int64_t q = x / y, m = x % y;
      if (m != 0 && ((m < 0) != (y < 0))) {
        m += y;
        --q;
      }
      return op == "%" ? Value(m) : Value(q);
    }
    if (op == "**") {
      if (!nums) unsupported("** or pow()", a, b);
      if (!fl && b.as_int() >= 0) {
        int64_t base = a.as_int(), e = b.as_int(), r = 1;
        while (e > 0) {
          if ((e & 1) && __builtin_mul_overflow(r, base, &r)) overflow();
          e >>= 1;
          if (e && __builtin_mul_overflow(base, base, &base)) overflow();
        }
        return Value(r);
      }
      if (a.as_float() == 0 && b.as_float() < 0) runtime_error("0.0 cannot be raised to a negative power");
      return Value(std::pow(a.as_float(), b.as_float()));
    }
    runtime_error("unknown operator " + op);
  }

  const Value& globals_;
  RenderLimits limits_;
  uint64_t steps_ = 0;
  int call_depth_ = 0;
  std::vector<Value> namespaces_;
};

}  // namespace

Template::Template(std::string_view source) : body_(std::make_shared<const Body>(parse(source))) {}

std::string Template::render(const Value& variables, const RenderLimits& limits) const {
  Interpreter interp(variables, limits);
  return interp.run(*body_);
}

}  // namespace ember::jinja
