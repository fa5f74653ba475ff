#pragma once
// The syntax tree of a parsed Jinja template: one node type whose kind says which fields matter.
#include <memory>
#include <string>
#include <vector>

namespace llmr::jinja {

enum class NodeKind {
  // Statements
  Text, Comment, Set, If, For, Break, Continue, Macro, CallBlock, FilterBlock,
  // Expressions
  IntLiteral, FloatLiteral, StringLiteral, ArrayLiteral, TupleLiteral, ObjectLiteral, Identifier,
  Member, Call, Unary, Binary, Filter, Test, Select, Ternary, Slice, KeywordArg, Spread, KeywordSpread,
};

struct Node;
using NodePtr = std::unique_ptr<Node>;

// Field use by kind:
//  Text/StringLiteral: text. Identifier: text = name. Int/FloatLiteral: number.
//  Set: a = target, b = value (null for a block set), body.  If: a = test, body, alt (else branch).
//  For: a = loop target, b = iterable, body, alt (else block).  Macro: text = name, list = parameters, body.
//  CallBlock: a = Call node, list = caller parameters, body.  FilterBlock: a = filter (Identifier/Call), body.
//  Array/TupleLiteral: list.  ObjectLiteral: list = key, value, key, value...
//  Member: a = object, b = property, flag = computed ([...]).  Call: a = callee, list = arguments.
//  Unary/Binary: text = operator, a (, b).  Filter: a = operand, b = filter (Identifier/Call).
//  Test: a = operand, text = test name, flag = negated.  Select: a = value, b = condition.
//  Ternary: a = condition, b = if true, c = if false.  Slice: a, b, c = start, stop, step (each may be null).
//  KeywordArg: text = name, a = value.  Spread/KeywordSpread: a.
struct Node {
  NodeKind kind;
  int line = 0;
  std::string text;
  double number = 0;
  bool flag = false;
  NodePtr a, b, c;
  std::vector<NodePtr> list, body, alt;

  Node(NodeKind k, int l) : kind(k), line(l) {}
};

}  // namespace llmr::jinja
