#pragma once
// Text helpers that behave like JavaScript's string and number primitives on UTF-8 text, because the
// reference renderer (@huggingface/jinja) is JavaScript and we match it byte for byte.
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace llmr::jinja {

// Byte length of the JS whitespace character (\s: ASCII space/tab/newlines, NBSP, U+2000.., BOM...)
// starting at s[i], or 0 when s[i] starts something else.
size_t js_space_at(const std::string& s, size_t i);
// Byte length of a JS line terminator (\n, \r, U+2028, U+2029) at s[i], or 0.
size_t js_line_terminator_at(const std::string& s, size_t i);
// Byte length of the JS whitespace character that ends at s[end-1], or 0.
size_t js_space_before(const std::string& s, size_t end);

std::string js_trim_start(const std::string& s);
std::string js_trim_end(const std::string& s);
std::string js_trim(const std::string& s);

// Length in UTF-16 code units, as JS's String.length counts.
size_t utf16_length(const std::string& s);
// The character at a UTF-16 index (negative counts from the end), as String.prototype.at.
std::optional<std::string> utf16_at(const std::string& s, double index);
// Splits into code points, as Array.from(string).
std::vector<std::string> code_points(const std::string& s);
// Appends the UTF-8 encoding of code point cp.
void append_utf8(std::string& out, unsigned cp);
// Throws Error naming `what` when s is not valid UTF-8.
void check_utf8(const std::string& s, const char* what);

// toUpperCase / toLowerCase for ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic (ß -> SS);
// other scripts pass through unchanged.
std::string ascii_upper(std::string s);
std::string ascii_lower(std::string s);
std::string js_upper(const std::string& s);
std::string js_lower(const std::string& s);
// Uppercases only the first code point (String.charAt(0).toUpperCase() + rest).
std::string js_capitalize_first(const std::string& s);

// Number::toString(10): shortest round-trip digits, exponent form outside [1e-6, 1e21).
std::string js_number_to_string(double v);
// Number(string): whitespace-trimmed decimal, hex/octal/binary, Infinity; NaN otherwise.
double js_to_number(const std::string& s);
// parseInt(s, 10) and parseFloat(s): longest numeric prefix after leading whitespace; NaN if none.
double js_parse_int(const std::string& s);
double js_parse_float(const std::string& s);
// JSON.stringify(string); ensure_ascii also escapes U+007F and above as \uXXXX (UTF-16 units).
std::string json_quote(const std::string& s, bool ensure_ascii);

}  // namespace llmr::jinja
