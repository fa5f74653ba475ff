#include "tokenizer/split_regex.h"

#include <pcre2.h>

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "tokenizer/unicode_added_data.h"
#include "tokenizer/utf8.h"

namespace llmr {
namespace {

// JavaScript's \s (WhiteSpace + LineTerminator), which differs from PCRE2's: it has U+FEFF, not U+0085.
constexpr const char* kJsSpaceClass =
    "\\t\\n\\x{0B}\\f\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";

// Class members for the code points of general category `property` ("L", "Lo", ...) that PCRE2's older
// Unicode leaves unassigned (unicode_added_data.h): "\x{1E5D0}-\x{1E5ED}...", to follow \p{property}.
std::string added_members(const std::string& property) {
  std::string out;
  for (size_t i = 0; i < unicode_added::kRangeCount; ++i) {
    const auto& r = unicode_added::kRanges[i];
    if (r.category[0] != property[0] || (property.size() == 2 && r.category[1] != property[1])) continue;
    char item[40];
    if (r.first == r.last) std::snprintf(item, sizeof item, "\\x{%X}", unsigned(r.first));
    else std::snprintf(item, sizeof item, "\\x{%X}-\\x{%X}", unsigned(r.first), unsigned(r.last));
    out += item;
  }
  return out;
}

// A general-category property name of one or two letters ("L", "Lu"): the forms the expansion knows.
bool category_name(const std::string& name) {
  const std::string majors = "LMNPSZC";
  return (name.size() == 1 || name.size() == 2) && majors.find(name[0]) != std::string::npos &&
         (name.size() == 1 || (name[1] >= 'a' && name[1] <= 'z'));
}

// \p{L} and the like at pattern[i], completed with the code points assigned since PCRE2's Unicode:
// appended to out, i moved to the closing brace. False (nothing done) for other properties.
bool expand_category(const std::string& pattern, size_t& i, bool in_class, std::string& out) {
  if (i + 2 >= pattern.size() || pattern[i + 2] != '{') return false;
  const size_t close = pattern.find('}', i + 3);
  if (close == std::string::npos) return false;
  const std::string property = pattern.substr(i + 3, close - (i + 3));
  if (!category_name(property)) return false;
  const std::string own = "\\p{" + property + "}", added = added_members(property);
  out += added.empty() ? own : in_class ? own + added : "[" + own + added + "]";
  i = close;
  return true;
}

}  // namespace

std::string js_regex_to_pcre2(const std::string& input, bool added_code_points) {
  std::string pattern = input;
  // transformers.js spells out this case-insensitive group (JS lacks (?i:)); PCRE2's folding would
  // also match U+017F and U+212A, so use the same spelled-out form.
  const std::string ci = "(?i:'s|'t|'re|'ve|'m|'ll|'d)";
  for (size_t at; (at = pattern.find(ci)) != std::string::npos;)
    pattern.replace(at, ci.size(), "(?:'([sS]|[tT]|[rR][eE]|[vV][eE]|[mM]|[lL][lL]|[dD]))");
  std::string out;
  bool in_class = false;
  for (size_t i = 0; i < pattern.size(); ++i) {
    char c = pattern[i];
    if (c == '\\' && i + 1 < pattern.size()) {
      char n = pattern[i + 1];
      if (n == 's') out += in_class ? std::string(kJsSpaceClass) : "[" + std::string(kJsSpaceClass) + "]";
      else if (n == 'S' && !in_class) out += "[^" + std::string(kJsSpaceClass) + "]";
      else if (n == 'd' && !in_class) out += "[0-9]";  // JS \d is ASCII even with the u flag
      else if (n == 'd') out += "0-9";
      else if (n == 'p' && added_code_points && expand_category(pattern, i, in_class, out)) continue;
      else { out += c; out += n; }
      ++i;
      continue;
    }
    if (c == '[' && !in_class) in_class = true;
    else if (c == ']' && in_class) in_class = false;
    out += c;
  }
  return out;
}

namespace {

// Whether text (valid UTF-8) holds a code point of unicode_added_data.h (all of them are past U+07FF).
bool has_added_code_point(std::string_view text) {
  const auto* ranges = unicode_added::kRanges;
  const auto* end = ranges + unicode_added::kRangeCount;
  for (size_t pos = 0; pos < text.size();) {
    if (static_cast<unsigned char>(text[pos]) < 0xE0) {
      pos += utf8::sequence_length(static_cast<unsigned char>(text[pos]));
      continue;
    }
    const uint32_t cp = utf8::next(text, pos);
    const auto* it = std::upper_bound(ranges, end, cp, [](uint32_t c, const auto& r) { return c < r.first; });
    if (it != ranges && cp <= (it - 1)->last) return true;
  }
  return false;
}

struct CompiledRegex {
  pcre2_code* code = nullptr;
  bool jit = false;
};

CompiledRegex compile(const std::string& source, const std::string& translated, bool literal) {
  uint32_t options = PCRE2_UTF | PCRE2_NO_UTF_CHECK | (literal ? PCRE2_LITERAL : PCRE2_UCP);
  int err = 0;
  PCRE2_SIZE err_offset = 0;
  CompiledRegex r;
  r.code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(translated.data()), translated.size(), options, &err,
                         &err_offset, nullptr);
  if (!r.code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof msg);
    throw Error("pre-tokenizer regex '" + source + "' does not compile at offset " + std::to_string(err_offset) +
                ": " + reinterpret_cast<const char*>(msg));
  }
  r.jit = pcre2_jit_compile(r.code, PCRE2_JIT_COMPLETE) == 0;
  return r;
}

}  // namespace

// The pattern as PCRE2's Unicode has it, and completed with the code points assigned since (or null
// where that changes nothing): the longer classes cost 20-30% of the speed, so text holding none of
// those code points (nearly all text) takes the first, which then matches the same.
struct SplitRegex::Impl {
  CompiledRegex plain, completed;
  ~Impl() {
    if (plain.code) pcre2_code_free(plain.code);
    if (completed.code) pcre2_code_free(completed.code);
  }
};

SplitRegex::SplitRegex(const std::string& pattern, bool literal) : source_(pattern), impl_(std::make_unique<Impl>()) {
  const std::string plain = literal ? pattern : js_regex_to_pcre2(pattern, false);
  impl_->plain = compile(pattern, plain, literal);
  const std::string completed = literal ? pattern : js_regex_to_pcre2(pattern, true);
  if (completed != plain) impl_->completed = compile(pattern, completed, literal);
}

SplitRegex::~SplitRegex() = default;
SplitRegex::SplitRegex(SplitRegex&&) noexcept = default;
SplitRegex& SplitRegex::operator=(SplitRegex&&) noexcept = default;

void SplitRegex::split(std::string_view text, std::vector<std::string_view>& out) const {
  const CompiledRegex& re = impl_->completed.code && has_added_code_point(text) ? impl_->completed : impl_->plain;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(re.code, nullptr);
  check(md != nullptr, "pre-tokenizer regex: out of memory for match data");
  auto subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  size_t prev = 0, start = 0;
  while (start <= text.size()) {
    int rc = re.jit ? pcre2_jit_match(re.code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr)
                    : pcre2_match(re.code, subject, text.size(), start, PCRE2_NO_UTF_CHECK, md, nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      throw Error("pre-tokenizer regex '" + source_ + "' failed on the input (PCRE2 error " + std::to_string(rc) + ")");
    }
    PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    size_t b = ov[0], e = ov[1];
    // Like transformers.js regexSplit: the text before a match (even an empty one) is a piece.
    if (b > prev) out.push_back(text.substr(prev, b - prev));
    if (e > b) out.push_back(text.substr(b, e - b));
    prev = e;
    if (e > b) {
      start = e;
    } else {
      // Empty match: step one character forward, as String.prototype.matchAll does with the u flag.
      if (b >= text.size()) break;
      start = b + 1;
      while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
    }
  }
  if (prev < text.size()) out.push_back(text.substr(prev));
  pcre2_match_data_free(md);
}

}  // namespace llmr
