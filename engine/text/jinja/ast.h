#pragma once
// The syntax tree of a parsed template. One node type for expressions and one for statements,
// each with a kind and the fields that kind uses (documented per kind below).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/text/jinja/value.h"

namespace ember::jinja {

struct Expr;
using ExprPtr = std::unique_ptr<Expr>;
using NamedArgs = std::vector<std::pair<std::string, ExprPtr>>;

struct Expr {
  enum class Kind {
    Literal,  // literal
    Name,     // name
    List,     // args = items
    Tuple,    // args = items
    Dict,     // args = key0, value0, key1, value1, ...
    Attr,     // object.name
    Item,     // object[args[0]]
    Slice,    // object[args[0]:args[1]:args[2]] (each may be null)
    Call,     // object(args..., named...)
    Filter,   // object|name(args..., named...); object is null inside a filter block
    Test,     // object is [not] name(args...)
    Not,      // not object
    Neg,      // -object
    Pos,      // +object
    Binary,   // object <name> args[0]   (+ - * / // % ** ~)
    And,      // object and args[0]
    Or,       // object or args[0]
    Compare,  // object ops[0] args[0] ops[1] args[1] ... (== != < <= > >= in notin)
    Cond,     // args[0] if object else args[1] (args[1] may be null)
  };
  Kind kind;
  int line = 0;
  Value literal;
  std::string name;
  ExprPtr object;
  std::vector<ExprPtr> args;
  NamedArgs named;
  std::vector<std::string> ops;
  bool negated = false;  // Test: "is not"
  bool soft = false;     // Filter/Test inside if/conditional: an unknown name fails only when run
  int depth = 1;         // height of this subtree (the parser bounds it)

  Expr(Kind k, int l) : kind(k), line(l) {}
};

struct Stmt;
using StmtPtr = std::unique_ptr<Stmt>;
using Body = std::vector<StmtPtr>;

struct Stmt {
  enum class Kind {
    Text,         // text
    Print,        // {{ expr }}
    If,           // conds[i] -> bodies[i]; bodies[conds.size()] is the else branch when present
    For,          // for targets in expr [if cond]: body, else_body
    Set,          // set targets = expr, or set targets[0].attr = expr (namespace)
    SetBlock,     // set targets[0] [| filter] %} body {% endset
    Macro,        // macro name(params) body
    CallBlock,    // call(params) expr: body becomes caller()
    FilterBlock,  // filter <filter chain> body
    Break,
    Continue,
    Block,        // body rendered as is ({% generation %})
  };
  Kind kind;
  int line = 0;
  std::string text;
  ExprPtr expr;
  ExprPtr cond;
  ExprPtr filter;  // a Filter chain whose innermost object is null
  std::vector<ExprPtr> conds;
  std::vector<Body> bodies;
  Body body;
  Body else_body;
  std::vector<std::string> targets;
  std::string attr;
  std::string name;
  NamedArgs params;  // (name, default or null)

  Stmt(Kind k, int l) : kind(k), line(l) {}
};

}  // namespace ember::jinja
