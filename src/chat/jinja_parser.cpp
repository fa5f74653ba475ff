// Recursive-descent Jinja parser, mirroring @huggingface/jinja's parser.ts.
#include "chat/jinja_parser.h"

#include <cstdlib>
#include <set>

#include "core/error.h"

namespace llmr::jinja {
namespace {

constexpr int kMaxNesting = 200;  // bounds recursion on hostile input (deep parentheses, nested blocks)

class Parser {
 public:
  explicit Parser(const std::vector<Token>& t) : t_(t) {}

  std::vector<NodePtr> program() {
    std::vector<NodePtr> body;
    while (i_ < t_.size()) body.push_back(any());
    return body;
  }

 private:
  const std::vector<Token>& t_;
  size_t i_ = 0;
  int depth_ = 0;

  struct Nest {
    Parser& p;
    explicit Nest(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxNesting) p.fail("template nests deeper than " + std::to_string(kMaxNesting) + " levels");
    }
    ~Nest() { --p.depth_; }
  };

  int line() const {
    if (t_.empty()) return 1;
    return t_[i_ < t_.size() ? i_ : t_.size() - 1].line;
  }
  [[noreturn]] void fail(const std::string& msg, int at = 0) const {
    throw Error("chat template line " + std::to_string(at ? at : line()) + ": " + msg);
  }
  std::string describe() const {
    if (i_ >= t_.size()) return "end of template";
    const Token& k = t_[i_];
    if (k.type == Tok::Identifier || k.type == Tok::NumericLiteral) return "'" + k.value + "'";
    return token_name(k.type);
  }
  bool is(Tok a) const { return i_ < t_.size() && t_[i_].type == a; }
  bool is(Tok a, Tok b) const { return i_ + 1 < t_.size() && t_[i_].type == a && t_[i_ + 1].type == b; }
  bool is_ident(const char* name) const {
    return i_ < t_.size() && t_[i_].type == Tok::Identifier && t_[i_].value == name;
  }
  bool is_ident2(const char* a, const char* b) const {
    return i_ + 1 < t_.size() && t_[i_].type == Tok::Identifier && t_[i_].value == a &&
           t_[i_ + 1].type == Tok::Identifier && t_[i_ + 1].value == b;
  }
  // {% name ... where name is one of names.
  bool is_statement(std::initializer_list<const char*> names) const {
    if (!is(Tok::OpenStatement, Tok::Identifier)) return false;
    for (const char* n : names)
      if (t_[i_ + 1].value == n) return true;
    return false;
  }
  const Token& expect(Tok type, const char* what) {
    if (!is(type)) fail(std::string("expected ") + token_name(type) + " " + what + ", got " + describe());
    return t_[i_++];
  }
  void expect_ident(const char* name, const char* what) {
    if (!is_ident(name)) fail(std::string("expected '") + name + "' " + what + ", got " + describe());
    ++i_;
  }
  NodePtr node(NodeKind k, int l) { return std::make_unique<Node>(k, l); }

  // Statements until one of the closing tags; a missing close names the block and its line.
  std::vector<NodePtr> block_until(std::initializer_list<const char*> ends, const char* block, int start,
                                   const char* closer) {
    std::vector<NodePtr> body;
    while (!is_statement(ends)) {
      if (i_ >= t_.size())
        fail(std::string("'") + block + "' block opened on line " + std::to_string(start) + " is never closed (missing {% " +
                 closer + " %})",
             start);
      body.push_back(any());
    }
    return body;
  }
  void close_tag(const char* name, const char* block) {
    expect(Tok::OpenStatement, block);
    expect_ident(name, block);
    expect(Tok::CloseStatement, block);
  }

  NodePtr any() {
    Nest nest(*this);
    const Token& k = t_[i_];
    switch (k.type) {
      case Tok::Comment: {
        auto n = node(NodeKind::Comment, k.line);
        n->text = k.value;
        ++i_;
        return n;
      }
      case Tok::Text: {
        auto n = node(NodeKind::Text, k.line);
        n->text = k.value;
        ++i_;
        return n;
      }
      case Tok::OpenStatement: return statement();
      case Tok::OpenExpression: {
        ++i_;
        NodePtr e = expression();
        expect(Tok::CloseExpression, "to close the {{ expression");
        return e;
      }
      default: fail(std::string("unexpected ") + describe() + " outside of {{ }} or {% %}");
    }
  }

  NodePtr statement() {
    int start = line();
    ++i_;  // {%
    if (!is(Tok::Identifier)) fail("expected a statement name after {%, got " + describe());
    std::string name = t_[i_++].value;
    if (name == "set") return set_statement(start);
    if (name == "if") {
      NodePtr n = if_statement(start);
      close_tag("endif", "to close 'if'");
      return n;
    }
    if (name == "macro") {
      auto n = node(NodeKind::Macro, start);
      if (!is(Tok::Identifier)) fail("expected a macro name after 'macro', got " + describe());
      n->text = t_[i_++].value;
      n->list = args(true);
      expect(Tok::CloseStatement, "after the macro signature");
      n->body = block_until({"endmacro"}, "macro", start, "endmacro");
      close_tag("endmacro", "to close 'macro'");
      return n;
    }
    if (name == "for") {
      NodePtr n = for_statement(start);
      close_tag("endfor", "to close 'for'");
      return n;
    }
    if (name == "call") {
      auto n = node(NodeKind::CallBlock, start);
      if (is(Tok::OpenParen)) {
        n->list = args(true);
        n->flag = true;
      }
      if (!is(Tok::Identifier)) fail("expected a macro name after 'call', got " + describe());
      auto call = node(NodeKind::Call, line());
      call->a = primary();
      call->list = args(false);
      n->a = std::move(call);
      expect(Tok::CloseStatement, "after the call statement");
      n->body = block_until({"endcall"}, "call", start, "endcall");
      close_tag("endcall", "to close 'call'");
      return n;
    }
    if (name == "break" || name == "continue") {
      expect(Tok::CloseStatement, name == "break" ? "after 'break'" : "after 'continue'");
      return node(name == "break" ? NodeKind::Break : NodeKind::Continue, start);
    }
    if (name == "filter") {
      auto n = node(NodeKind::FilterBlock, start);
      NodePtr f = primary();
      if (f->kind != NodeKind::Identifier) fail("expected a filter name after 'filter'");
      if (is(Tok::OpenParen)) f = call_expression(std::move(f));
      n->a = std::move(f);
      expect(Tok::CloseStatement, "after the filter statement");
      n->body = block_until({"endfilter"}, "filter", start, "endfilter");
      close_tag("endfilter", "to close 'filter'");
      return n;
    }
    fail("unknown or unsupported statement '" + name + "'", start);
  }

  NodePtr set_statement(int start) {
    auto n = node(NodeKind::Set, start);
    n->a = expression_sequence(false);
    if (is(Tok::Equals)) {
      ++i_;
      n->b = expression_sequence(false);
    } else {
      expect(Tok::CloseStatement, "after a block 'set' target");
      n->body = block_until({"endset"}, "set", start, "endset");
      expect(Tok::OpenStatement, "to close 'set'");
      expect_ident("endset", "to close 'set'");
    }
    expect(Tok::CloseStatement, "to close 'set'");
    return n;
  }

  NodePtr if_statement(int start) {
    Nest nest(*this);
    auto n = node(NodeKind::If, start);
    n->a = expression();
    expect(Tok::CloseStatement, "after the 'if' condition");
    n->body = block_until({"elif", "else", "endif"}, "if", start, "endif");
    if (is_statement({"elif"})) {
      int l = line();
      i_ += 2;
      n->alt.push_back(if_statement(l));
    } else if (is_statement({"else"})) {
      i_ += 2;
      expect(Tok::CloseStatement, "after 'else'");
      n->alt = block_until({"endif"}, "if", start, "endif");
    }
    return n;
  }

  NodePtr for_statement(int start) {
    auto n = node(NodeKind::For, start);
    n->a = expression_sequence(true);
    if (n->a->kind != NodeKind::Identifier && n->a->kind != NodeKind::TupleLiteral)
      fail("expected a name or tuple of names as the 'for' loop variable");
    if (!is_ident("in")) fail("expected 'in' after the 'for' loop variable, got " + describe());
    ++i_;
    n->b = expression();
    expect(Tok::CloseStatement, "after the 'for' iterable");
    n->body = block_until({"endfor", "else"}, "for", start, "endfor");
    if (is_statement({"else"})) {
      i_ += 2;
      expect(Tok::CloseStatement, "after 'else'");
      n->alt = block_until({"endfor"}, "for", start, "endfor");
    }
    return n;
  }

  NodePtr expression_sequence(bool primary_only) {
    int l = line();
    NodePtr first = primary_only ? primary() : expression();
    if (!is(Tok::Comma)) return first;
    auto tuple = node(NodeKind::TupleLiteral, l);
    tuple->list.push_back(std::move(first));
    while (true) {
      ++i_;  // comma
      tuple->list.push_back(primary_only ? primary() : expression());
      if (!is(Tok::Comma)) break;
    }
    return tuple;
  }

  NodePtr expression() {
    Nest nest(*this);
    NodePtr a = logical_or();
    if (!is_ident("if")) return a;
    int l = line();
    ++i_;
    NodePtr test = logical_or();
    if (is_ident("else")) {
      ++i_;
      auto n = node(NodeKind::Ternary, l);
      n->a = std::move(test);
      n->b = std::move(a);
      n->c = expression();
      return n;
    }
    auto n = node(NodeKind::Select, l);
    n->a = std::move(a);
    n->b = std::move(test);
    return n;
  }

  NodePtr binary(const std::string& op, NodePtr l, NodePtr r, int line) {
    auto n = node(NodeKind::Binary, line);
    n->text = op;
    n->a = std::move(l);
    n->b = std::move(r);
    return n;
  }

  NodePtr logical_or() {
    NodePtr left = logical_and();
    while (is_ident("or")) {
      int l = line();
      ++i_;
      left = binary("or", std::move(left), logical_and(), l);
    }
    return left;
  }

  NodePtr logical_and() {
    NodePtr left = logical_not();
    while (is_ident("and")) {
      int l = line();
      ++i_;
      left = binary("and", std::move(left), logical_not(), l);
    }
    return left;
  }

  NodePtr logical_not() {
    Nest nest(*this);
    NodePtr result;
    while (is_ident("not")) {
      auto n = node(NodeKind::Unary, line());
      n->text = "not";
      ++i_;
      n->a = logical_not();
      result = std::move(n);
    }
    return result ? std::move(result) : comparison();
  }

  NodePtr comparison() {
    NodePtr left = additive();
    while (true) {
      int l = line();
      std::string op;
      if (is_ident2("not", "in")) {
        op = "not in";
        i_ += 2;
      } else if (is_ident("in")) {
        op = "in";
        ++i_;
      } else if (is(Tok::ComparisonBinaryOperator)) {
        op = t_[i_++].value;
      } else {
        break;
      }
      left = binary(op, std::move(left), additive(), l);
    }
    return left;
  }

  NodePtr additive() {
    NodePtr left = multiplicative();
    while (is(Tok::AdditiveBinaryOperator)) {
      int l = line();
      std::string op = t_[i_++].value;
      left = binary(op, std::move(left), multiplicative(), l);
    }
    return left;
  }

  NodePtr multiplicative() {
    NodePtr left = power();
    while (is(Tok::MultiplicativeBinaryOperator)) {
      int l = line();
      std::string op = t_[i_++].value;
      left = binary(op, std::move(left), power(), l);
    }
    return left;
  }

  NodePtr power() {
    NodePtr left = test_expression();
    while (is(Tok::ExponentiationBinaryOperator)) {
      int l = line();
      ++i_;
      left = binary("**", std::move(left), test_expression(), l);
    }
    return left;
  }

  NodePtr test_expression() {
    NodePtr operand = filter_expression();
    while (is_ident("is")) {
      int l = line();
      ++i_;
      bool negate = is_ident("not");
      if (negate) ++i_;
      NodePtr name = primary();
      if (name->kind != NodeKind::Identifier) fail("expected a test name after 'is'", l);
      auto n = node(NodeKind::Test, l);
      n->a = std::move(operand);
      n->text = name->text;
      n->flag = negate;
      operand = std::move(n);
    }
    return operand;
  }

  NodePtr filter_expression() {
    NodePtr operand = unary_sign();
    while (is(Tok::Pipe)) {
      int l = line();
      ++i_;
      NodePtr f = primary();
      if (f->kind != NodeKind::Identifier) fail("expected a filter name after '|'", l);
      if (is(Tok::OpenParen)) f = call_expression(std::move(f));
      auto n = node(NodeKind::Filter, l);
      n->a = std::move(operand);
      n->b = std::move(f);
      operand = std::move(n);
    }
    return operand;
  }

  NodePtr unary_sign() {
    Nest nest(*this);
    if (i_ < t_.size() && (t_[i_].type == Tok::UnaryOperator || t_[i_].type == Tok::AdditiveBinaryOperator) &&
        (t_[i_].value == "-" || t_[i_].value == "+")) {
      auto n = node(NodeKind::Unary, line());
      n->text = t_[i_++].value;
      n->a = unary_sign();
      return n;
    }
    NodePtr member = member_expression(primary());
    if (is(Tok::OpenParen)) return call_expression(std::move(member));
    return member;
  }

  NodePtr call_expression(NodePtr callee) {
    Nest nest(*this);
    auto n = node(NodeKind::Call, line());
    n->a = std::move(callee);
    n->list = args(false);
    NodePtr e = member_expression(std::move(n));
    if (is(Tok::OpenParen)) e = call_expression(std::move(e));
    return e;
  }

  // (a, b=1, *rest, **kw) in calls, or (a, b=default) in macro signatures.
  std::vector<NodePtr> args(bool parameters) {
    expect(Tok::OpenParen, parameters ? "to open the parameter list" : "to open the argument list");
    std::vector<NodePtr> out;
    std::set<std::string> names;
    bool saw_keyword = false, saw_spread = false;
    while (!is(Tok::CloseParen)) {
      if (i_ >= t_.size()) fail("argument list is never closed with ')'");
      int l = line();
      bool kw_spread = is(Tok::ExponentiationBinaryOperator);
      bool spread = is(Tok::MultiplicativeBinaryOperator) && t_[i_].value == "*";
      if (parameters && (kw_spread || spread)) fail("argument unpacking is not allowed in a macro signature");
      if (kw_spread) {
        ++i_;
        auto n = node(NodeKind::KeywordSpread, l);
        n->a = expression();
        out.push_back(std::move(n));
        if (is(Tok::Comma)) ++i_;
        if (!is(Tok::CloseParen)) fail("'**' must be applied to the final argument");
        break;
      }
      NodePtr arg;
      if (spread) {
        if (saw_spread) fail("only one '*' argument unpacking is allowed");
        saw_spread = true;
        ++i_;
        arg = node(NodeKind::Spread, l);
        arg->a = expression();
      } else {
        arg = expression();
        if (is(Tok::Equals)) {
          ++i_;
          if (arg->kind != NodeKind::Identifier)
            fail(parameters ? "expected a parameter name before '='" : "expected a keyword name before '='");
          auto kw = node(NodeKind::KeywordArg, l);
          kw->text = arg->text;
          kw->a = expression();
          arg = std::move(kw);
        }
        if (parameters) {
          if (arg->kind != NodeKind::Identifier && arg->kind != NodeKind::KeywordArg)
            fail("expected a parameter name in the macro signature");
          if (!names.insert(arg->text).second) fail("duplicate parameter name '" + arg->text + "'");
        }
        if (arg->kind == NodeKind::KeywordArg) {
          saw_keyword = true;
        } else if (saw_keyword) {
          fail(parameters ? "parameter without default follows one with a default"
                          : "positional argument follows keyword argument");
        } else if (saw_spread) {
          fail("positional argument follows '*' unpacking");
        }
      }
      out.push_back(std::move(arg));
      if (is(Tok::Comma)) ++i_;
    }
    expect(Tok::CloseParen, "to close the argument list");
    return out;
  }

  // obj[expr] or obj[a:b:c]
  NodePtr subscript() {
    int l = line();
    std::vector<NodePtr> parts;
    bool is_slice = false;
    while (!is(Tok::CloseSquareBracket)) {
      if (i_ >= t_.size()) fail("'[' is never closed with ']'", l);
      if (is(Tok::Colon)) {
        parts.push_back(nullptr);
        ++i_;
        is_slice = true;
      } else {
        parts.push_back(expression());
        if (is(Tok::Colon)) {
          ++i_;
          is_slice = true;
        }
      }
    }
    if (parts.empty()) fail("expected an index or slice inside '[]'", l);
    if (!is_slice) return std::move(parts[0]);
    if (parts.size() > 3) fail("a slice takes at most three parts (start:stop:step)", l);
    auto n = node(NodeKind::Slice, l);
    n->a = std::move(parts[0]);
    if (parts.size() > 1) n->b = std::move(parts[1]);
    if (parts.size() > 2) n->c = std::move(parts[2]);
    return n;
  }

  NodePtr member_expression(NodePtr object) {
    while (is(Tok::Dot) || is(Tok::OpenSquareBracket)) {
      int l = line();
      bool computed = t_[i_++].type == Tok::OpenSquareBracket;
      auto n = node(NodeKind::Member, l);
      n->flag = computed;
      if (computed) {
        n->b = subscript();
        expect(Tok::CloseSquareBracket, "to close '['");
      } else {
        n->b = primary();
        if (n->b->kind != NodeKind::Identifier && n->b->kind != NodeKind::IntLiteral)
          fail("expected a name or integer after '.'", l);
      }
      n->a = std::move(object);
      object = std::move(n);
    }
    return object;
  }

  NodePtr primary() {
    Nest nest(*this);
    if (i_ >= t_.size()) fail("unexpected end of template in an expression");
    const Token& k = t_[i_++];
    switch (k.type) {
      case Tok::NumericLiteral: {
        bool is_float = k.value.find('.') != std::string::npos;
        auto n = node(is_float ? NodeKind::FloatLiteral : NodeKind::IntLiteral, k.line);
        n->number = std::strtod(k.value.c_str(), nullptr);
        return n;
      }
      case Tok::StringLiteral: {
        auto n = node(NodeKind::StringLiteral, k.line);
        n->text = k.value;
        while (is(Tok::StringLiteral)) n->text += t_[i_++].value;  // adjacent literals concatenate
        return n;
      }
      case Tok::Identifier: {
        auto n = node(NodeKind::Identifier, k.line);
        n->text = k.value;
        return n;
      }
      case Tok::OpenParen: {
        NodePtr e = expression_sequence(false);
        expect(Tok::CloseParen, "to close '('");
        return e;
      }
      case Tok::OpenSquareBracket: {
        auto n = node(NodeKind::ArrayLiteral, k.line);
        while (!is(Tok::CloseSquareBracket)) {
          if (i_ >= t_.size()) fail("list literal '[' is never closed", k.line);
          n->list.push_back(expression());
          if (is(Tok::Comma)) ++i_;
        }
        ++i_;
        return n;
      }
      case Tok::OpenCurlyBracket: {
        auto n = node(NodeKind::ObjectLiteral, k.line);
        while (!is(Tok::CloseCurlyBracket)) {
          if (i_ >= t_.size()) fail("dict literal '{' is never closed", k.line);
          n->list.push_back(expression());
          expect(Tok::Colon, "between key and value in a dict literal");
          n->list.push_back(expression());
          if (is(Tok::Comma)) ++i_;
        }
        ++i_;
        return n;
      }
      default:
        --i_;
        fail("unexpected " + describe() + " in an expression");
    }
  }
};

}  // namespace

std::vector<NodePtr> parse(const std::vector<Token>& tokens) { return Parser(tokens).program(); }

}  // namespace llmr::jinja
