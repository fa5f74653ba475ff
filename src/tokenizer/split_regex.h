#pragma once
// One pre-tokenizer split step: a regex (JavaScript flavour, as tokenizer.json and transformers.js
// use it) compiled with PCRE2, applied with the "Isolated" behaviour: matches and the text between
// them both become pieces.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace llmr {

class SplitRegex {
 public:
  // pattern: a regex, or a literal string when literal is true. Throws Error naming the pattern.
  SplitRegex(const std::string& pattern, bool literal);
  ~SplitRegex();
  SplitRegex(SplitRegex&&) noexcept;
  SplitRegex& operator=(SplitRegex&&) noexcept;

  // Appends the pieces of text (valid UTF-8) to out, in order; their concatenation is text.
  void split(std::string_view text, std::vector<std::string_view>& out) const;
  const std::string& pattern() const { return source_; }

 private:
  struct Impl;
  std::string source_;
  std::unique_ptr<Impl> impl_;
};

// Rewrites a JavaScript-flavoured pattern so PCRE2 matches what V8 matches (\s, case-insensitive groups;
// with added_code_points, \p{..} categories hold the code points assigned since PCRE2's Unicode).
std::string js_regex_to_pcre2(const std::string& pattern, bool added_code_points = true);

}  // namespace llmr
