#pragma once
// Jinja lexer: the source preprocessing transformers applies (trim_blocks, lstrip_blocks, the
// {% generation %} tag) and tokenization, both as @huggingface/jinja does them.
#include <string>
#include <vector>

namespace llmr::jinja {

enum class Tok {
  Text, NumericLiteral, StringLiteral, Identifier, Equals, OpenParen, CloseParen, OpenStatement,
  CloseStatement, OpenExpression, CloseExpression, OpenSquareBracket, CloseSquareBracket,
  OpenCurlyBracket, CloseCurlyBracket, Comma, Dot, Colon, Pipe, AdditiveBinaryOperator,
  MultiplicativeBinaryOperator, ExponentiationBinaryOperator, ComparisonBinaryOperator, UnaryOperator,
  Comment,
};

const char* token_name(Tok t);

struct Token {
  Tok type;
  std::string value;
  int line;  // 1-based line in the original source
};

// Throws Error("chat template line N: ...") on malformed input.
std::vector<Token> tokenize(const std::string& source);

}  // namespace llmr::jinja
