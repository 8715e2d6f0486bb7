#include "engine/text/jinja/parser.h"

#include <algorithm>
#include <initializer_list>

#include "engine/text/jinja/error.h"

namespace ember::jinja {
namespace {

using T = Token::Type;

std::string describe(const Token& t) {
  switch (t.type) {
    case T::End: return "end of template";
    case T::VarEnd: return "end of print statement";
    case T::BlockEnd: return "end of statement block";
    case T::VarBegin: return "begin of print statement";
    case T::BlockBegin: return "begin of statement block";
    case T::Data: return "template data";
    case T::String: return "string";
    case T::Integer: return "integer";
    case T::Float: return "float";
    default: return t.text;
  }
}

constexpr int kMaxExprDepth = 128;
constexpr int kMaxNesting = 64;

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : toks_(std::move(tokens)) {}

  Body parse_template() {
    auto [body, end] = parse_body({});
    (void)end;
    return std::move(body);
  }

 private:
  const Token& cur() const { return toks_[pos_]; }
  const Token& peek(size_t n = 1) const { return toks_[std::min(pos_ + n, toks_.size() - 1)]; }
  void next() {
    if (pos_ + 1 < toks_.size()) ++pos_;
  }
  int line() const { return cur().line; }

  [[noreturn]] void fail(const std::string& msg, int l = 0) const { throw TemplateError(msg, l ? l : line()); }

  bool is_op(const char* op) const { return cur().type == T::Op && cur().text == op; }
  bool is_name(const char* n) const { return cur().type == T::Name && cur().text == n; }
  bool skip_op(const char* op) {
    if (!is_op(op)) return false;
    next();
    return true;
  }
  bool skip_name(const char* n) {
    if (!is_name(n)) return false;
    next();
    return true;
  }
  void expect_op(const char* op) {
    if (!skip_op(op)) fail(fmt::format("expected token '{}', got '{}'", op, describe(cur())));
  }
  std::string expect_name() {
    if (cur().type != T::Name) fail(fmt::format("expected token 'name', got '{}'", describe(cur())));
    std::string n = cur().text;
    next();
    return n;
  }
  void expect_block_end() {
    if (cur().type != T::BlockEnd)
      fail(fmt::format("expected token 'end of statement block', got '{}'", describe(cur())));
    next();
  }

  // Parses statements until a block tag whose name is one of `ends`; returns the body and that
  // name (the tag's name is consumed, its remainder is not).
  std::pair<Body, std::string> parse_body(std::initializer_list<const char*> ends) {
    Body body;
    while (true) {
      const Token& t = cur();
      if (t.type == T::End) {
        if (ends.size() == 0) return {std::move(body), ""};
        std::string want;
        for (const char* e : ends) want += (want.empty() ? "'" : " or '") + std::string(e) + "'";
        fail("Unexpected end of template. Jinja was looking for the following tags: " + want +
             ". The innermost block that needs to be closed is '" + block_stack_.back() + "'.");
      }
      if (t.type == T::Data) {
        auto s = std::make_unique<Stmt>(Stmt::Kind::Text, t.line);
        s->text = t.text;
        body.push_back(std::move(s));
        next();
      } else if (t.type == T::VarBegin) {
        next();
        auto s = std::make_unique<Stmt>(Stmt::Kind::Print, line());
        s->expr = parse_tuple();
        if (cur().type != T::VarEnd)
          fail(fmt::format("expected token 'end of print statement', got '{}'", describe(cur())));
        next();
        body.push_back(std::move(s));
      } else if (t.type == T::BlockBegin) {
        next();
        if (cur().type != T::Name) fail("tag name expected");
        for (const char* e : ends) {
          if (cur().text == e) {
            next();
            return {std::move(body), e};
          }
        }
        body.push_back(parse_statement());
      } else {
        fail(fmt::format("unexpected '{}'", describe(t)));
      }
    }
  }

  StmtPtr parse_statement() {
    Guard guard(*this, kMaxNesting);
    const std::string tag = cur().text;
    int l = line();
    next();
    if (tag == "if") return parse_if(l);
    if (tag == "for") return parse_for(l);
    if (tag == "set") return parse_set(l);
    if (tag == "macro") return parse_macro(l);
    if (tag == "call") return parse_call_block(l);
    if (tag == "filter") return parse_filter_block(l);
    if (tag == "generation") {
      expect_block_end();
      auto s = std::make_unique<Stmt>(Stmt::Kind::Block, l);
      block_stack_.push_back("generation");
      s->body = parse_body({"endgeneration"}).first;
      block_stack_.pop_back();
      expect_block_end();
      return s;
    }
    if (tag == "break" || tag == "continue") {
      if (loop_depth_ == 0) fail("'" + tag + "' outside of a loop", l);  // jinja2 fails at compile time too
      expect_block_end();
      return std::make_unique<Stmt>(tag == "break" ? Stmt::Kind::Break : Stmt::Kind::Continue, l);
    }
    static const char* const kUnsupported[] = {"include", "import", "from", "extends", "block", "with",
                                               "autoescape", "do", "trans"};
    for (const char* u : kUnsupported)
      if (tag == u) fail("'" + tag + "' is not supported by ember's template engine", l);
    static const char* const kEnds[] = {"endif", "endfor", "endset", "endmacro", "endcall", "endfilter",
                                        "else", "elif", "endgeneration", "endraw"};
    for (const char* e : kEnds) {
      if (tag == e) {
        std::string msg = "Encountered unknown tag '" + tag + "'.";
        if (!block_stack_.empty())
          msg += " Jinja was looking for the following tags: the end of '" + block_stack_.back() +
                 "'. The innermost block that needs to be closed is '" + block_stack_.back() + "'.";
        fail(msg, l);
      }
    }
    fail("Encountered unknown tag '" + tag + "'.", l);
  }

  StmtPtr parse_if(int l) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::If, l);
    block_stack_.push_back("if");
    while (true) {
      s->conds.push_back(parse_tuple(false));
      expect_block_end();
      auto [body, end] = parse_body({"elif", "else", "endif"});
      s->bodies.push_back(std::move(body));
      if (end == "elif") continue;
      if (end == "else") {
        expect_block_end();
        s->bodies.push_back(parse_body({"endif"}).first);
      }
      break;
    }
    block_stack_.pop_back();
    expect_block_end();
    return s;
  }

  std::vector<std::string> parse_targets() {
    std::vector<std::string> names;
    bool paren = skip_op("(");
    do {
      if (paren && is_op(")")) break;
      names.push_back(expect_name());
    } while (skip_op(","));
    if (paren) expect_op(")");
    return names;
  }

  StmtPtr parse_for(int l) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::For, l);
    s->targets = parse_targets();
    if (!skip_name("in")) fail(fmt::format("expected token 'in', got '{}'", describe(cur())));
    s->expr = parse_tuple(false, /*stop_at_if=*/true);
    if (skip_name("if")) s->cond = parse_expression();
    if (is_name("recursive")) fail("recursive loops are not supported by ember's template engine");
    expect_block_end();
    block_stack_.push_back("for");
    ++loop_depth_;
    auto [body, end] = parse_body({"endfor", "else"});
    --loop_depth_;
    s->body = std::move(body);
    if (end == "else") {
      expect_block_end();
      s->else_body = parse_body({"endfor"}).first;
    }
    block_stack_.pop_back();
    expect_block_end();
    return s;
  }

  StmtPtr parse_set(int l) {
    std::vector<std::string> names;
    std::string attr;
    names.push_back(expect_name());
    if (skip_op(".")) {
      attr = expect_name();
    } else {
      while (skip_op(",")) names.push_back(expect_name());
    }
    if (skip_op("=")) {
      auto s = std::make_unique<Stmt>(Stmt::Kind::Set, l);
      s->targets = std::move(names);
      s->attr = attr;
      s->expr = parse_tuple();
      expect_block_end();
      return s;
    }
    if (names.size() != 1 || !attr.empty()) fail("expected token '=', got '" + describe(cur()) + "'");
    auto s = std::make_unique<Stmt>(Stmt::Kind::SetBlock, l);
    s->targets = std::move(names);
    if (is_op("|")) s->filter = parse_filter_chain(nullptr);
    expect_block_end();
    block_stack_.push_back("set");
    s->body = parse_body({"endset"}).first;
    block_stack_.pop_back();
    expect_block_end();
    return s;
  }

  void parse_params(NamedArgs& params) {
    expect_op("(");
    while (!is_op(")")) {
      if (!params.empty()) expect_op(",");
      if (is_op(")")) break;
      std::string n = expect_name();
      ExprPtr def;
      if (skip_op("=")) def = parse_expression();
      else if (!params.empty() && params.back().second) fail("non-default argument follows default argument");
      params.emplace_back(n, std::move(def));
    }
    expect_op(")");
  }

  StmtPtr parse_macro(int l) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::Macro, l);
    s->name = expect_name();
    parse_params(s->params);
    expect_block_end();
    block_stack_.push_back("macro");
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_body({"endmacro"}).first;
    loop_depth_ = saved;
    block_stack_.pop_back();
    expect_block_end();
    return s;
  }

  StmtPtr parse_call_block(int l) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::CallBlock, l);
    if (is_op("(")) parse_params(s->params);
    s->expr = parse_expression();
    if (s->expr->kind != Expr::Kind::Call) fail("expected call", l);
    expect_block_end();
    block_stack_.push_back("call");
    int saved = loop_depth_;
    loop_depth_ = 0;
    s->body = parse_body({"endcall"}).first;
    loop_depth_ = saved;
    block_stack_.pop_back();
    expect_block_end();
    return s;
  }

  StmtPtr parse_filter_block(int l) {
    auto s = std::make_unique<Stmt>(Stmt::Kind::FilterBlock, l);
    s->filter = parse_filter_chain(nullptr, /*first_without_bar=*/true);
    expect_block_end();
    block_stack_.push_back("filter");
    s->body = parse_body({"endfilter"}).first;
    block_stack_.pop_back();
    expect_block_end();
    return s;
  }

  // ---- expressions (jinja2's precedence) ----

  // Comma-separated expressions become a tuple ({{ a, b }}, set x = 1, 2).
  ExprPtr parse_tuple(bool with_condexpr = true, bool stop_at_if = false, bool explicit_parens = false) {
    int l = line();
    std::vector<ExprPtr> items;
    bool comma = false;
    while (true) {
      if (!items.empty()) {
        if (!skip_op(",")) break;
        comma = true;
      }
      if (tuple_ends(stop_at_if)) break;
      items.push_back(with_condexpr ? parse_expression() : parse_or());
    }
    if (!comma) {
      if (!items.empty()) return std::move(items[0]);
      if (!explicit_parens) fail(fmt::format("Expected an expression, got '{}'", describe(cur())));
    }
    auto e = std::make_unique<Expr>(Expr::Kind::Tuple, l);
    e->args = std::move(items);
    return fin(std::move(e));
  }

  bool tuple_ends(bool stop_at_if) const {
    const Token& t = cur();
    if (t.type == T::VarEnd || t.type == T::BlockEnd || t.type == T::End) return true;
    if (t.type == T::Op && (t.text == ")" || t.text == "]" || t.text == "}")) return true;
    if (stop_at_if && t.type == T::Name && (t.text == "if" || t.text == "recursive")) return true;
    return false;
  }

  ExprPtr parse_expression() {
    ExprPtr e = parse_or();
    while (is_name("if")) {
      int l = line();
      next();
      auto c = std::make_unique<Expr>(Expr::Kind::Cond, l);
      c->object = parse_or();
      c->args.push_back(std::move(e));
      c->args.push_back(skip_name("else") ? parse_expression() : nullptr);
      e = fin(std::move(c));
    }
    return e;
  }

  ExprPtr binary(Expr::Kind k, std::string op, ExprPtr l, ExprPtr r, int line) {
    auto e = std::make_unique<Expr>(k, line);
    e->name = std::move(op);
    e->object = std::move(l);
    e->args.push_back(std::move(r));
    return fin(std::move(e));
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      int ln = line();
      next();
      l = binary(Expr::Kind::Or, "or", std::move(l), parse_and(), ln);
    }
    return l;
  }

  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      int ln = line();
      next();
      l = binary(Expr::Kind::And, "and", std::move(l), parse_not(), ln);
    }
    return l;
  }

  ExprPtr parse_not() {
    if (is_name("not")) {
      Guard guard(*this, kMaxExprDepth);
      auto e = std::make_unique<Expr>(Expr::Kind::Not, line());
      next();
      e->object = parse_not();
      return fin(std::move(e));
    }
    return parse_compare();
  }

  ExprPtr parse_compare() {
    int l = line();
    ExprPtr first = parse_math1();
    std::unique_ptr<Expr> cmp;
    while (true) {
      std::string op;
      const Token& t = cur();
      if (t.type == T::Op && (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == "<=" ||
                              t.text == ">" || t.text == ">=")) {
        op = t.text;
        next();
      } else if (is_name("in")) {
        op = "in";
        next();
      } else if (is_name("not") && peek().type == T::Name && peek().text == "in") {
        op = "notin";
        next();
        next();
      } else {
        break;
      }
      if (!cmp) {
        cmp = std::make_unique<Expr>(Expr::Kind::Compare, l);
        cmp->object = std::move(first);
      }
      cmp->ops.push_back(op);
      cmp->args.push_back(parse_math1());
      cmp = fin(std::move(cmp));
    }
    return cmp ? std::move(cmp) : std::move(first);
  }

  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = cur().text;
      int ln = line();
      next();
      l = binary(Expr::Kind::Binary, op, std::move(l), parse_concat(), ln);
    }
    return l;
  }

  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (is_op("~")) {
      int ln = line();
      next();
      l = binary(Expr::Kind::Binary, "~", std::move(l), parse_math2(), ln);
    }
    return l;
  }

  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = cur().text;
      int ln = line();
      next();
      l = binary(Expr::Kind::Binary, op, std::move(l), parse_pow(), ln);
    }
    return l;
  }

  ExprPtr parse_pow() {
    ExprPtr l = parse_unary();
    while (is_op("**")) {
      int ln = line();
      next();
      l = binary(Expr::Kind::Binary, "**", std::move(l), parse_unary(), ln);
    }
    return l;
  }

  ExprPtr parse_unary(bool with_filter = true) {
    Guard guard(*this, kMaxExprDepth);
    ExprPtr e;
    if (is_op("-") || is_op("+")) {
      e = std::make_unique<Expr>(is_op("-") ? Expr::Kind::Neg : Expr::Kind::Pos, line());
      next();
      e->object = parse_unary(false);
      e = fin(std::move(e));
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }

  ExprPtr parse_primary() {
    const Token& t = cur();
    int l = t.line;
    if (t.type == T::Name) {
      auto e = std::make_unique<Expr>(Expr::Kind::Literal, l);
      const std::string& n = t.text;
      if (n == "true" || n == "True") e->literal = Value(true);
      else if (n == "false" || n == "False") e->literal = Value(false);
      else if (n == "none" || n == "None") e->literal = Value::none();
      else {
        e->kind = Expr::Kind::Name;
        e->name = n;
      }
      next();
      return e;
    }
    if (t.type == T::String) {
      std::string s;
      while (cur().type == T::String) {
        s += cur().text;
        next();
      }
      auto e = std::make_unique<Expr>(Expr::Kind::Literal, l);
      e->literal = Value(std::move(s));
      return e;
    }
    if (t.type == T::Integer || t.type == T::Float) {
      auto e = std::make_unique<Expr>(Expr::Kind::Literal, l);
      e->literal = t.type == T::Integer ? Value(t.int_value) : Value(t.float_value);
      next();
      return e;
    }
    if (skip_op("(")) {
      ExprPtr e = parse_tuple(true, false, true);
      expect_op(")");
      return e;
    }
    if (skip_op("[")) {
      auto e = std::make_unique<Expr>(Expr::Kind::List, l);
      while (!is_op("]")) {
        if (!e->args.empty()) expect_op(",");
        if (is_op("]")) break;
        e->args.push_back(parse_expression());
      }
      expect_op("]");
      return fin(std::move(e));
    }
    if (skip_op("{")) {
      auto e = std::make_unique<Expr>(Expr::Kind::Dict, l);
      while (!is_op("}")) {
        if (!e->args.empty()) expect_op(",");
        if (is_op("}")) break;
        e->args.push_back(parse_expression());
        expect_op(":");
        e->args.push_back(parse_expression());
      }
      expect_op("}");
      return fin(std::move(e));
    }
    fail(fmt::format("unexpected '{}'", describe(t)));
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      e = fin(std::move(e));
      int l = line();
      if (is_op(".")) {
        next();
        if (cur().type == T::Name) {
          auto a = std::make_unique<Expr>(Expr::Kind::Attr, l);
          a->object = std::move(e);
          a->name = cur().text;
          next();
          e = std::move(a);
        } else if (cur().type == T::Integer) {
          auto a = std::make_unique<Expr>(Expr::Kind::Item, l);
          a->object = std::move(e);
          auto k = std::make_unique<Expr>(Expr::Kind::Literal, l);
          k->literal = Value(cur().int_value);
          a->args.push_back(std::move(k));
          next();
          e = std::move(a);
        } else {
          fail("expected name or number");
        }
      } else if (is_op("[")) {
        next();
        e = parse_subscript(std::move(e), l);
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_subscript(ExprPtr obj, int l) {
    ExprPtr parts[3];
    int n = 0;
    bool slice = false;
    while (true) {
      if (!is_op(":") && !is_op("]")) parts[n] = parse_expression();
      if (is_op(":")) {
        slice = true;
        if (++n > 2) fail("unexpected ':'");
        next();
        continue;
      }
      break;
    }
    if (is_op(",")) fail("tuple subscripts are not supported by ember's template engine");
    expect_op("]");
    if (!slice) {
      if (!parts[0]) fail("expected subscript");
      auto e = std::make_unique<Expr>(Expr::Kind::Item, l);
      e->object = std::move(obj);
      e->args.push_back(std::move(parts[0]));
      return e;
    }
    auto e = std::make_unique<Expr>(Expr::Kind::Slice, l);
    e->object = std::move(obj);
    for (auto& p : parts) e->args.push_back(std::move(p));
    return e;
  }

  void parse_call_args(std::vector<ExprPtr>& args, NamedArgs& named) {
    expect_op("(");
    bool first = true;
    while (!is_op(")")) {
      if (!first) {
        expect_op(",");
        if (is_op(")")) break;
      }
      first = false;
      if (is_op("*") || is_op("**")) fail("*args and **kwargs are not supported by ember's template engine");
      if (cur().type == T::Name && peek().type == T::Op && peek().text == "=") {
        std::string n = cur().text;
        next();
        next();
        named.emplace_back(n, parse_expression());
      } else {
        if (!named.empty()) fail("invalid syntax for function call expression");
        args.push_back(parse_expression());
      }
    }
    expect_op(")");
  }

  ExprPtr parse_call(ExprPtr callee) {
    auto e = std::make_unique<Expr>(Expr::Kind::Call, line());
    e->object = std::move(callee);
    parse_call_args(e->args, e->named);
    return fin(std::move(e));
  }

  ExprPtr parse_filter_expr(ExprPtr e) {
    while (true) {
      e = fin(std::move(e));
      if (is_op("|")) {
        e = parse_filter_chain(std::move(e));
      } else if (is_name("is")) {
        e = parse_test(std::move(e));
      } else if (is_op("(")) {
        e = parse_call(std::move(e));
      } else {
        return e;
      }
    }
  }

  std::string dotted_name() {
    std::string n = expect_name();
    while (is_op(".")) {
      next();
      n += "." + expect_name();
    }
    return n;
  }

  // One or more "|name(args)"; `object` null means the value comes from a filter block's body.
  ExprPtr parse_filter_chain(ExprPtr object, bool first_without_bar = false) {
    bool first = true;
    while ((first && first_without_bar) || is_op("|")) {
      if (!(first && first_without_bar)) next();
      first = false;
      auto f = std::make_unique<Expr>(Expr::Kind::Filter, line());
      f->name = dotted_name();
      f->object = std::move(object);
      if (is_op("(")) parse_call_args(f->args, f->named);
      object = fin(std::move(f));
    }
    return object;
  }

  ExprPtr parse_test(ExprPtr object) {
    int l = line();
    next();  // is
    auto t = std::make_unique<Expr>(Expr::Kind::Test, l);
    t->negated = skip_name("not");
    t->name = dotted_name();
    t->object = std::move(object);
    const Token& c = cur();
    if (is_op("(")) {
      parse_call_args(t->args, t->named);
    } else if ((c.type == T::Name || c.type == T::String || c.type == T::Integer || c.type == T::Float ||
                is_op("[") || is_op("{")) &&
               !(c.type == T::Name && (c.text == "else" || c.text == "or" || c.text == "and"))) {
      ExprPtr arg = parse_postfix(parse_primary());
      t->args.push_back(std::move(arg));
    }
    return fin(std::move(t));
  }

  // Bounds the tree's height (left-deep chains such as a+b+c+... included), so that evaluating
  // and destroying it cannot exhaust the stack.
  ExprPtr fin(ExprPtr e) {
    int d = 0;
    if (e->object) d = std::max(d, e->object->depth);
    for (const auto& a : e->args)
      if (a) d = std::max(d, a->depth);
    for (const auto& [n, a] : e->named)
      if (a) d = std::max(d, a->depth);
    e->depth = d + 1;
    if (e->depth > kMaxExprDepth) fail(fmt::format("expression nested deeper than {} levels", kMaxExprDepth), e->line);
    return e;
  }

  struct Guard {
    Parser& p;
    Guard(Parser& parser, int limit) : p(parser) {
      if (++p.nesting_ > limit) p.fail(fmt::format("template nested deeper than {} levels", limit));
    }
    ~Guard() { --p.nesting_; }
  };

  std::vector<Token> toks_;
  int nesting_ = 0;
  size_t pos_ = 0;
  std::vector<std::string> block_stack_;
  int loop_depth_ = 0;
};

// jinja2 resolves filters and tests at compile time, except inside if statements and
// conditional expressions, where an unknown one fails only if it runs.
void check_names(Expr* e, bool soft);

void check_names(Body& body, bool soft);

void check_names(Expr* e, bool soft) {
  if (!e) return;
  if (e->kind == Expr::Kind::Cond) soft = true;
  if (e->kind == Expr::Kind::Filter || e->kind == Expr::Kind::Test) {
    bool filter = e->kind == Expr::Kind::Filter;
    bool known = filter ? has_filter(e->name) : has_test(e->name);
    e->soft = soft;
    if (!known && !soft)
      throw TemplateError(fmt::format("No {} named '{}'.", filter ? "filter" : "test", e->name), e->line);
  }
  check_names(e->object.get(), soft);
  for (auto& a : e->args) check_names(a.get(), soft);
  for (auto& [n, a] : e->named) check_names(a.get(), soft);
}

void check_names(Body& body, bool soft) {
  for (auto& s : body) {
    switch (s->kind) {
      case Stmt::Kind::If:
        for (auto& c : s->conds) check_names(c.get(), true);
        for (auto& b : s->bodies) check_names(b, true);
        break;
      case Stmt::Kind::For:
        check_names(s->expr.get(), soft);
        check_names(s->cond.get(), false);
        check_names(s->body, false);
        check_names(s->else_body, false);
        break;
      case Stmt::Kind::Macro:
      case Stmt::Kind::CallBlock:
        for (auto& [n, d] : s->params) check_names(d.get(), soft);
        check_names(s->expr.get(), soft);
        check_names(s->body, false);
        break;
      case Stmt::Kind::SetBlock:
      case Stmt::Kind::FilterBlock:
        check_names(s->filter.get(), false);
        check_names(s->body, false);
        break;
      default:
        check_names(s->expr.get(), soft);
        check_names(s->body, soft);
    }
  }
}

}  // namespace

Body parse(std::string_view source, const LexOptions& options) {
  Body body = Parser(tokenize(source, options)).parse_template();
  check_names(body, false);
  return body;
}

}  // namespace ember::jinja
