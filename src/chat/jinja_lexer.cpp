// Jinja lexer matching @huggingface/jinja's lexer.ts (preprocess + tokenize), tracking source lines.
#include "chat/jinja_lexer.h"

#include <cstring>

#include "chat/js_text.h"
#include "core/error.h"

namespace llmr::jinja {
namespace {

// Text plus the original line of every byte, so errors name lines after preprocessing.
struct Source {
  std::string text;
  std::vector<int> line;
  void push(char c, int l) {
    text += c;
    line.push_back(l);
  }
};

[[noreturn]] void fail(int line, const std::string& msg) {
  throw Error("chat template line " + std::to_string(line) + ": " + msg);
}

Source number_lines(const std::string& s) {
  Source out;
  int line = 1;
  for (char c : s) {
    out.push(c, line);
    if (c == '\n') ++line;
  }
  return out;
}

// lstrip_blocks: /^[ \t]*({[#%-])/gm -> "$1" (line starts after \n, \r, U+2028, U+2029).
Source lstrip_blocks(const Source& in) {
  Source out;
  const std::string& s = in.text;
  bool line_start = true;
  for (size_t i = 0; i < s.size();) {
    if (line_start) {
      size_t j = i;
      while (j < s.size() && (s[j] == ' ' || s[j] == '\t')) ++j;
      if (j + 1 < s.size() && s[j] == '{' && (s[j + 1] == '#' || s[j + 1] == '%' || s[j + 1] == '-')) i = j;
    }
    size_t term = js_line_terminator_at(s, i);
    size_t n = term ? term : 1;
    for (size_t k = 0; k < n; ++k) out.push(s[i + k], in.line[i + k]);
    i += n;
    line_start = term != 0;
  }
  return out;
}

// trim_blocks: /([#%-]})\n/g -> "$1".
Source trim_blocks(const Source& in) {
  Source out;
  const std::string& s = in.text;
  for (size_t i = 0; i < s.size(); ++i) {
    out.push(s[i], in.line[i]);
    if ((s[i] == '#' || s[i] == '%' || s[i] == '-') && i + 2 < s.size() && s[i + 1] == '}' && s[i + 2] == '\n') {
      out.push('}', in.line[i + 1]);
      i += 2;
    }
  }
  return out;
}

// Skips a run of JS whitespace from i; returns the end.
size_t skip_spaces(const std::string& s, size_t i) {
  size_t n;
  while ((n = js_space_at(s, i)) > 0) i += n;
  return i;
}

// transformers' {% generation %} / {% endgeneration %} markers are dropped:
// /(\s*){%(-?)\s*(?:end)?generation\s*(-?)%}(\s*)/gs -> (lstrip ? "" : before) + (rstrip ? "" : after).
Source drop_generation_tags(const Source& in) {
  const std::string& s = in.text;
  if (s.find("generation") == std::string::npos) return in;
  Source out;
  auto copy = [&](size_t from, size_t to) {
    for (size_t k = from; k < to; ++k) out.push(s[k], in.line[k]);
  };
  size_t p = 0;
  while (p < s.size()) {
    size_t ws_end = skip_spaces(s, p);
    size_t j = ws_end;
    bool matched = false;
    bool lstrip = false, rstrip = false;
    if (s.compare(j, 2, "{%") == 0) {
      j += 2;
      if (j < s.size() && s[j] == '-') lstrip = true, ++j;
      j = skip_spaces(s, j);
      if (s.compare(j, 3, "end") == 0 && s.compare(j + 3, 10, "generation") == 0) j += 3;
      if (s.compare(j, 10, "generation") == 0) {
        j = skip_spaces(s, j + 10);
        if (j < s.size() && s[j] == '-') rstrip = true, ++j;
        if (s.compare(j, 2, "%}") == 0) matched = true, j += 2;
      }
    }
    if (!matched) {
      // No match starting anywhere in this whitespace run either: copy it whole.
      size_t next = ws_end > p ? ws_end : p + 1;
      copy(p, next);
      p = next;
      continue;
    }
    size_t after_end = skip_spaces(s, j);
    if (!lstrip) copy(p, ws_end);
    if (!rstrip) copy(j, after_end);
    p = after_end;
  }
  return out;
}

bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}
bool is_integer(char c) { return c >= '0' && c <= '9'; }

struct Rule {
  const char* seq;
  Tok type;
};
// Order matters: two-character sequences before their one-character prefixes.
const Rule kRules[] = {
    {"{%", Tok::OpenStatement}, {"%}", Tok::CloseStatement}, {"{{", Tok::OpenExpression},
    {"}}", Tok::CloseExpression}, {"(", Tok::OpenParen}, {")", Tok::CloseParen},
    {"{", Tok::OpenCurlyBracket}, {"}", Tok::CloseCurlyBracket}, {"[", Tok::OpenSquareBracket},
    {"]", Tok::CloseSquareBracket}, {",", Tok::Comma}, {".", Tok::Dot}, {":", Tok::Colon},
    {"|", Tok::Pipe}, {"<=", Tok::ComparisonBinaryOperator}, {">=", Tok::ComparisonBinaryOperator},
    {"==", Tok::ComparisonBinaryOperator}, {"!=", Tok::ComparisonBinaryOperator},
    {"<", Tok::ComparisonBinaryOperator}, {">", Tok::ComparisonBinaryOperator},
    {"+", Tok::AdditiveBinaryOperator}, {"-", Tok::AdditiveBinaryOperator}, {"~", Tok::AdditiveBinaryOperator},
    {"**", Tok::ExponentiationBinaryOperator}, {"*", Tok::MultiplicativeBinaryOperator},
    {"//", Tok::MultiplicativeBinaryOperator}, {"/", Tok::MultiplicativeBinaryOperator},
    {"%", Tok::MultiplicativeBinaryOperator}, {"=", Tok::Equals},
};

class Lexer {
 public:
  explicit Lexer(Source src) : src_(std::move(src)), s_(src_.text) {}

  std::vector<Token> run() {
    while (pos_ < s_.size()) step();
    return std::move(tokens_);
  }

 private:
  Source src_;
  const std::string& s_;
  size_t pos_ = 0;
  int curly_depth_ = 0;
  std::vector<Token> tokens_;

  int line_at(size_t i) const {
    if (src_.line.empty()) return 1;
    return src_.line[i < src_.line.size() ? i : src_.line.size() - 1];
  }
  bool at(const char* seq) const { return s_.compare(pos_, std::strlen(seq), seq) == 0; }
  void push(Tok t, std::string v, size_t start) { tokens_.push_back({t, std::move(v), line_at(start)}); }
  bool last_is(Tok t) const { return !tokens_.empty() && tokens_.back().type == t; }

  void strip_trailing_whitespace() {
    if (!tokens_.empty() && tokens_.back().type == Tok::Text) {
      tokens_.back().value = js_trim_end(tokens_.back().value);
      if (tokens_.back().value.empty()) tokens_.pop_back();
    }
  }
  void skip_leading_whitespace() { pos_ = skip_spaces(s_, pos_); }

  // A run of digits; like consumeWhile, running into the end of input is an error.
  std::string digits() {
    size_t start = pos_;
    while (pos_ < s_.size() && is_integer(s_[pos_])) {
      ++pos_;
      if (pos_ >= s_.size()) fail(line_at(start), "unexpected end of template in a number");
    }
    return s_.substr(start, pos_ - start);
  }

  void step() {
    if (tokens_.empty() || last_is(Tok::CloseStatement) || last_is(Tok::CloseExpression) || last_is(Tok::Comment)) {
      size_t start = pos_;
      while (pos_ < s_.size() &&
             !(s_[pos_] == '{' && pos_ + 1 < s_.size() && (s_[pos_ + 1] == '%' || s_[pos_ + 1] == '{' || s_[pos_ + 1] == '#')))
        ++pos_;
      if (pos_ > start) {
        push(Tok::Text, s_.substr(start, pos_ - start), start);
        return;
      }
    }
    if (at("{#")) return comment();
    if (at("{%-")) {
      strip_trailing_whitespace();
      push(Tok::OpenStatement, "{%", pos_);
      pos_ += 3;
      return;
    }
    if (at("{{-")) {
      strip_trailing_whitespace();
      push(Tok::OpenExpression, "{{", pos_);
      curly_depth_ = 0;
      pos_ += 3;
      return;
    }
    size_t ws_start = pos_;
    pos_ = skip_spaces(s_, pos_);
    if (pos_ >= s_.size()) {
      if (pos_ > ws_start) fail(line_at(ws_start), "unexpected end of template inside a tag");
      return;
    }
    if (at("-%}")) {
      push(Tok::CloseStatement, "%}", pos_);
      pos_ += 3;
      skip_leading_whitespace();
      return;
    }
    if (at("-}}")) {
      push(Tok::CloseExpression, "}}", pos_);
      pos_ += 3;
      skip_leading_whitespace();
      return;
    }
    char c = s_[pos_];
    size_t start = pos_;
    if (c == '-' || c == '+') {
      if (tokens_.empty() || last_is(Tok::Text)) fail(line_at(start), std::string("unexpected character '") + c + "'");
      Tok last = tokens_.back().type;
      bool binary = last == Tok::Identifier || last == Tok::NumericLiteral || last == Tok::StringLiteral ||
                    last == Tok::CloseParen || last == Tok::CloseSquareBracket;
      if (!binary) {
        ++pos_;
        std::string num = digits();
        if (!num.empty() && pos_ + 1 < s_.size() && s_[pos_] == '.' && is_integer(s_[pos_ + 1])) {
          ++pos_;
          num += "." + digits();
        }
        push(num.empty() ? Tok::UnaryOperator : Tok::NumericLiteral, std::string(1, c) + num, start);
        return;
      }
    }
    for (const Rule& r : kRules) {
      if (r.type == Tok::CloseExpression && curly_depth_ > 0) continue;
      if (!at(r.seq)) continue;
      push(r.type, r.seq, start);
      if (r.type == Tok::OpenExpression) curly_depth_ = 0;
      else if (r.type == Tok::OpenCurlyBracket) ++curly_depth_;
      else if (r.type == Tok::CloseCurlyBracket) --curly_depth_;
      pos_ += std::strlen(r.seq);
      return;
    }
    if (c == '\'' || c == '"') return string_literal(c);
    if (is_integer(c)) {
      std::string num = digits();
      if (!last_is(Tok::Dot) && pos_ + 1 < s_.size() && s_[pos_] == '.' && is_integer(s_[pos_ + 1])) {
        ++pos_;
        num += "." + digits();
      }
      push(Tok::NumericLiteral, num, start);
      return;
    }
    if (is_word(c)) {
      while (pos_ < s_.size() && is_word(s_[pos_])) {
        ++pos_;
        if (pos_ >= s_.size()) fail(line_at(start), "unexpected end of template after '" + s_.substr(start) + "'");
      }
      push(Tok::Identifier, s_.substr(start, pos_ - start), start);
      return;
    }
    size_t len = 1;
    while (start + len < s_.size() && (static_cast<unsigned char>(s_[start + len]) >> 6) == 2 && len < 4) ++len;
    fail(line_at(start), "unexpected character '" + s_.substr(start, len) + "'");
  }

  void comment() {
    size_t start = pos_;
    pos_ += 2;
    bool strip_before = pos_ < s_.size() && s_[pos_] == '-';
    if (strip_before) ++pos_;
    size_t body = pos_;
    while (!(pos_ + 1 < s_.size() && s_[pos_] == '#' && s_[pos_ + 1] == '}')) {
      if (pos_ + 2 >= s_.size()) fail(line_at(start), "comment {# is never closed with #}");
      ++pos_;
    }
    std::string text = s_.substr(body, pos_ - body);
    bool strip_after = !text.empty() && text.back() == '-';
    if (strip_after) text.pop_back();
    if (strip_before) strip_trailing_whitespace();
    push(Tok::Comment, text, start);
    pos_ += 2;
    if (strip_after) skip_leading_whitespace();
  }

  unsigned hex_escape(size_t n, size_t start) {
    if (pos_ + n > s_.size()) fail(line_at(start), "invalid hexadecimal escape in string literal");
    unsigned v = 0;
    for (size_t k = 0; k < n; ++k) {
      char h = s_[pos_ + k];
      int d = is_integer(h) ? h - '0' : (h >= 'a' && h <= 'f') ? h - 'a' + 10 : (h >= 'A' && h <= 'F') ? h - 'A' + 10 : -1;
      if (d < 0) fail(line_at(start), "invalid hexadecimal escape \\" + std::string(1, s_[pos_ - 1]) + s_.substr(pos_, n));
      v = v * 16 + static_cast<unsigned>(d);
    }
    pos_ += n;
    return v;
  }

  void string_literal(char quote) {
    size_t start = pos_++;
    std::string out;
    unsigned pending_high = 0;  // a \uD800-\uDBFF escape waiting for its low half
    auto flush_high = [&] {
      if (pending_high) append_utf8(out, 0xfffd);
      pending_high = 0;
    };
    while (pos_ < s_.size() && s_[pos_] != quote) {
      if (s_[pos_] == '\\') {
        ++pos_;
        if (pos_ >= s_.size()) fail(line_at(start), "unexpected end of template in a string literal");
        char e = s_[pos_++];
        if (e == 'x' || e == 'u') {
          unsigned cp = hex_escape(e == 'x' ? 2 : 4, start);
          if (cp >= 0xdc00 && cp <= 0xdfff && pending_high) {
            append_utf8(out, 0x10000 + ((pending_high - 0xd800) << 10) + (cp - 0xdc00));
            pending_high = 0;
          } else {
            flush_high();
            if (cp >= 0xd800 && cp <= 0xdbff) pending_high = cp;
            else if (cp >= 0xdc00 && cp <= 0xdfff) append_utf8(out, 0xfffd);
            else append_utf8(out, cp);
          }
          continue;
        }
        flush_high();
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'v': out += '\v'; break;
          case '\'': out += '\''; break;
          case '"': out += '"'; break;
          case '\\': out += '\\'; break;
          default: fail(line_at(start), std::string("unknown escape \\") + e + " in string literal");
        }
        continue;
      }
      flush_high();
      out += s_[pos_++];
      if (pos_ >= s_.size()) fail(line_at(start), "string literal is never closed");
    }
    flush_high();
    if (pos_ >= s_.size()) fail(line_at(start), "string literal is never closed");
    ++pos_;
    push(Tok::StringLiteral, std::move(out), start);
  }
};

}  // namespace

const char* token_name(Tok t) {
  switch (t) {
    case Tok::Text: return "text";
    case Tok::NumericLiteral: return "number";
    case Tok::StringLiteral: return "string";
    case Tok::Identifier: return "identifier";
    case Tok::Equals: return "'='";
    case Tok::OpenParen: return "'('";
    case Tok::CloseParen: return "')'";
    case Tok::OpenStatement: return "'{%'";
    case Tok::CloseStatement: return "'%}'";
    case Tok::OpenExpression: return "'{{'";
    case Tok::CloseExpression: return "'}}'";
    case Tok::OpenSquareBracket: return "'['";
    case Tok::CloseSquareBracket: return "']'";
    case Tok::OpenCurlyBracket: return "'{'";
    case Tok::CloseCurlyBracket: return "'}'";
    case Tok::Comma: return "','";
    case Tok::Dot: return "'.'";
    case Tok::Colon: return "':'";
    case Tok::Pipe: return "'|'";
    case Tok::AdditiveBinaryOperator: return "additive operator";
    case Tok::MultiplicativeBinaryOperator: return "multiplicative operator";
    case Tok::ExponentiationBinaryOperator: return "'**'";
    case Tok::ComparisonBinaryOperator: return "comparison operator";
    case Tok::UnaryOperator: return "unary operator";
    case Tok::Comment: return "comment";
  }
  return "token";
}

std::vector<Token> tokenize(const std::string& source) {
  Source src = number_lines(source);
  if (!src.text.empty() && src.text.back() == '\n') {
    src.text.pop_back();
    src.line.pop_back();
  }
  src = drop_generation_tags(trim_blocks(lstrip_blocks(src)));
  return Lexer(std::move(src)).run();
}

}  // namespace llmr::jinja
