#pragma once
// Jinja parser: tokens to a syntax tree with @huggingface/jinja's grammar and operator precedence.
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_lexer.h"

namespace llmr::jinja {

// The template's top-level statements. Throws Error("chat template line N: ...") naming the construct.
std::vector<NodePtr> parse(const std::vector<Token>& tokens);

}  // namespace llmr::jinja
