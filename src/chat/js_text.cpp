// JavaScript-compatible string and number primitives over UTF-8 (see js_text.h).
#include "chat/js_text.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "core/error.h"

namespace llmr::jinja {
namespace {

// Decodes the code point at s[i]; invalid bytes decode as themselves with length 1.
unsigned decode_at(const std::string& s, size_t i, size_t* len) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) {
    *len = 1;
    return c;
  }
  unsigned cp = n == 1 ? c : n == 2 ? (c & 0x1f) : n == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = static_cast<unsigned char>(s[i + k]);
    if ((d >> 6) != 2) {
      *len = 1;
      return c;
    }
    cp = (cp << 6) | (d & 0x3f);
  }
  *len = n;
  return cp;
}

bool is_js_space(unsigned cp) {
  return cp == 0x09 || cp == 0x0a || cp == 0x0b || cp == 0x0c || cp == 0x0d || cp == 0x20 || cp == 0xa0 ||
         cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f ||
         cp == 0x205f || cp == 0x3000 || cp == 0xfeff;
}

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Length of the StrDecimalLiteral prefix of s starting at i (sign, digits, fraction, exponent).
size_t decimal_prefix(const std::string& s, size_t i, bool* is_infinity) {
  size_t j = i;
  *is_infinity = false;
  if (j < s.size() && (s[j] == '+' || s[j] == '-')) ++j;
  if (s.compare(j, 8, "Infinity") == 0) {
    *is_infinity = true;
    return j + 8 - i;
  }
  size_t int_digits = 0, frac_digits = 0;
  while (j < s.size() && is_digit(s[j])) ++j, ++int_digits;
  if (j < s.size() && s[j] == '.') {
    size_t k = j + 1;
    while (k < s.size() && is_digit(s[k])) ++k, ++frac_digits;
    if (int_digits + frac_digits > 0) j = k;
  }
  if (int_digits + frac_digits == 0) return 0;
  if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
    size_t k = j + 1;
    if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
    size_t exp_digits = 0;
    while (k < s.size() && is_digit(s[k])) ++k, ++exp_digits;
    if (exp_digits > 0) j = k;
  }
  return j - i;
}

double parse_decimal(const std::string& text, bool is_infinity) {
  bool negative = !text.empty() && text[0] == '-';
  size_t start = (!text.empty() && (text[0] == '+' || text[0] == '-')) ? 1 : 0;
  if (is_infinity) return negative ? -INFINITY : INFINITY;
  double v = 0;
  std::string body = text.substr(start);
  if (body[0] == '.') body = "0" + body;
  std::from_chars(body.data(), body.data() + body.size(), v);
  return negative ? -v : v;
}

}  // namespace

size_t js_space_at(const std::string& s, size_t i) {
  if (i >= s.size()) return 0;
  size_t len;
  unsigned cp = decode_at(s, i, &len);
  return is_js_space(cp) ? len : 0;
}

size_t js_line_terminator_at(const std::string& s, size_t i) {
  if (i >= s.size()) return 0;
  size_t len;
  unsigned cp = decode_at(s, i, &len);
  return (cp == '\n' || cp == '\r' || cp == 0x2028 || cp == 0x2029) ? len : 0;
}

size_t js_space_before(const std::string& s, size_t end) {
  if (end == 0) return 0;
  size_t start = end - 1;
  while (start > 0 && end - start < 4 && (static_cast<unsigned char>(s[start]) >> 6) == 2) --start;
  size_t len;
  unsigned cp = decode_at(s, start, &len);
  if (start + len != end) return 0;
  return is_js_space(cp) ? len : 0;
}

std::string js_trim_start(const std::string& s) {
  size_t i = 0, n;
  while ((n = js_space_at(s, i)) > 0) i += n;
  return s.substr(i);
}

std::string js_trim_end(const std::string& s) {
  size_t end = s.size(), n;
  while ((n = js_space_before(s, end)) > 0) end -= n;
  return s.substr(0, end);
}

std::string js_trim(const std::string& s) { return js_trim_start(js_trim_end(s)); }

size_t utf16_length(const std::string& s) {
  size_t units = 0, len;
  for (size_t i = 0; i < s.size(); i += len) units += decode_at(s, i, &len) >= 0x10000 ? 2 : 1;
  return units;
}

std::optional<std::string> utf16_at(const std::string& s, double index) {
  double length = static_cast<double>(utf16_length(s));
  double k = std::trunc(index);
  if (k < 0) k += length;
  if (!(k >= 0 && k < length)) return std::nullopt;
  size_t want = static_cast<size_t>(k), units = 0, len;
  for (size_t i = 0; i < s.size(); i += len) {
    unsigned cp = decode_at(s, i, &len);
    size_t w = cp >= 0x10000 ? 2 : 1;
    if (want < units + w) {
      if (w == 2) return std::string("\xEF\xBF\xBD");  // half of a surrogate pair: unrepresentable
      return s.substr(i, len);
    }
    units += w;
  }
  return std::nullopt;
}

std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  size_t len;
  for (size_t i = 0; i < s.size(); i += len) {
    decode_at(s, i, &len);
    out.push_back(s.substr(i, len));
  }
  return out;
}

void append_utf8(std::string& out, unsigned cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

void check_utf8(const std::string& s, const char* what) {
  size_t len;
  for (size_t i = 0; i < s.size(); i += len) {
    unsigned cp = decode_at(s, i, &len);
    bool bad = (len == 1 && static_cast<unsigned char>(s[i]) >= 0x80) || (len == 2 && cp < 0x80) ||
               (len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
               (cp >= 0xd800 && cp <= 0xdfff);
    if (bad) throw Error(std::string(what) + ": invalid UTF-8 at byte " + std::to_string(i));
  }
}

std::string ascii_upper(std::string s) {
  for (char& c : s)
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 32);
  return s;
}

std::string ascii_lower(std::string s) {
  for (char& c : s)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return s;
}

namespace {

void append_upper(std::string& out, unsigned c) {
  unsigned u = c;
  if (c >= 'a' && c <= 'z') u = c - 32;
  else if (c == 0xb5) u = 0x39c;
  else if (c == 0xdf) return void(out += "SS");
  else if (c >= 0xe0 && c <= 0xfe && c != 0xf7) u = c - 0x20;
  else if (c == 0xff) u = 0x178;
  else if (c == 0x131) u = 'I';
  else if (c == 0x17f) u = 'S';
  else if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) u = c & ~1u;
  else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) u = (c & 1) ? c : c - 1;
  else if ((c >= 0x3b1 && c <= 0x3c1) || (c >= 0x3c3 && c <= 0x3cb)) u = c - 0x20;
  else if (c == 0x3c2) u = 0x3a3;
  else if (c == 0x3ac) u = 0x386;
  else if (c >= 0x3ad && c <= 0x3af) u = c - 0x25;
  else if (c == 0x3cc) u = 0x38c;
  else if (c == 0x3cd || c == 0x3ce) u = c - 0x3f;
  else if (c >= 0x430 && c <= 0x44f) u = c - 0x20;
  else if (c >= 0x450 && c <= 0x45f) u = c - 0x50;
  append_utf8(out, u);
}

void append_lower(std::string& out, unsigned c) {
  unsigned l = c;
  if (c >= 'A' && c <= 'Z') l = c + 32;
  else if (c >= 0xc0 && c <= 0xde && c != 0xd7) l = c + 0x20;
  else if (c == 0x178) l = 0xff;
  else if (c == 0x130) return void(out += "i\xCC\x87");
  else if ((c >= 0x100 && c <= 0x137) || (c >= 0x14a && c <= 0x177)) l = c | 1u;
  else if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17e)) l = (c & 1) ? c + 1 : c;
  else if ((c >= 0x391 && c <= 0x3a1) || (c >= 0x3a3 && c <= 0x3ab)) l = c + 0x20;
  else if (c == 0x386) l = 0x3ac;
  else if (c >= 0x388 && c <= 0x38a) l = c + 0x25;
  else if (c == 0x38c) l = 0x3cc;
  else if (c == 0x38e || c == 0x38f) l = c + 0x3f;
  else if (c >= 0x410 && c <= 0x42f) l = c + 0x20;
  else if (c >= 0x400 && c <= 0x40f) l = c + 0x50;
  append_utf8(out, l);
}

}  // namespace

std::string js_upper(const std::string& s) {
  std::string out;
  size_t len;
  for (size_t i = 0; i < s.size(); i += len) {
    unsigned cp = decode_at(s, i, &len);
    if (len == 1 && cp >= 0x80) out += s[i];  // invalid byte: keep
    else append_upper(out, cp);
  }
  return out;
}

std::string js_lower(const std::string& s) {
  std::string out;
  size_t len;
  for (size_t i = 0; i < s.size(); i += len) {
    unsigned cp = decode_at(s, i, &len);
    if (len == 1 && cp >= 0x80) out += s[i];
    else append_lower(out, cp);
  }
  return out;
}

std::string js_capitalize_first(const std::string& s) {
  if (s.empty()) return s;
  size_t len;
  unsigned cp = decode_at(s, 0, &len);
  if (cp >= 0x10000 || (len == 1 && cp >= 0x80)) return s;
  std::string out;
  append_upper(out, cp);
  return out + s.substr(len);
}

std::string js_number_to_string(double v) {
  if (std::isnan(v)) return "NaN";
  if (v == 0) return "0";
  if (std::isinf(v)) return v < 0 ? "-Infinity" : "Infinity";
  std::string sign = v < 0 ? "-" : "";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, std::fabs(v), std::chars_format::scientific);
  std::string t(buf, r.ptr);
  size_t e = t.find('e');
  std::string digits;
  for (size_t i = 0; i < e; ++i)
    if (t[i] != '.') digits += t[i];
  int k = static_cast<int>(digits.size());
  int n = std::atoi(t.c_str() + e + 1) + 1;  // value = 0.digits * 10^n
  if (k <= n && n <= 21) return sign + digits + std::string(n - k, '0');
  if (0 < n && n <= 21) return sign + digits.substr(0, n) + "." + digits.substr(n);
  if (-6 < n && n <= 0) return sign + "0." + std::string(-n, '0') + digits;
  std::string out = sign + digits[0];
  if (k > 1) out += "." + digits.substr(1);
  out += n - 1 >= 0 ? "e+" : "e-";
  out += std::to_string(std::abs(n - 1));
  return out;
}

double js_to_number(const std::string& s) {
  std::string t = js_trim(s);
  if (t.empty()) return 0;
  if (t.size() > 2 && t[0] == '0') {
    int base = (t[1] == 'x' || t[1] == 'X') ? 16 : (t[1] == 'o' || t[1] == 'O') ? 8 : (t[1] == 'b' || t[1] == 'B') ? 2 : 0;
    if (base) {
      double v = 0;
      for (size_t i = 2; i < t.size(); ++i) {
        char c = t[i];
        int d = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10 : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : 99;
        if (d >= base) return NAN;
        v = v * base + d;
      }
      return v;
    }
  }
  bool inf;
  size_t n = decimal_prefix(t, 0, &inf);
  if (n != t.size()) return NAN;
  return parse_decimal(t, inf);
}

double js_parse_int(const std::string& s) {
  std::string t = js_trim_start(s);
  size_t i = 0;
  bool negative = false;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) negative = t[i++] == '-';
  size_t start = i;
  while (i < t.size() && is_digit(t[i])) ++i;
  if (i == start) return NAN;
  double v = 0;
  std::from_chars(t.data() + start, t.data() + i, v);
  return negative ? -v : v;
}

double js_parse_float(const std::string& s) {
  std::string t = js_trim_start(s);
  bool inf;
  size_t n = decimal_prefix(t, 0, &inf);
  if (n == 0) return NAN;
  return parse_decimal(t.substr(0, n), inf);
}

std::string json_quote(const std::string& s, bool ensure_ascii) {
  std::string out = "\"";
  size_t len;
  char hex[16];
  for (size_t i = 0; i < s.size(); i += len) {
    unsigned cp = decode_at(s, i, &len);
    switch (cp) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\b': out += "\\b"; continue;
      case '\f': out += "\\f"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (cp < 0x20) {
      std::snprintf(hex, sizeof hex, "\\u%04x", cp);
      out += hex;
    } else if (ensure_ascii && cp >= 0x7f) {
      if (cp >= 0x10000) {
        unsigned v = cp - 0x10000;
        std::snprintf(hex, sizeof hex, "\\u%04x\\u%04x", 0xd800 + (v >> 10), 0xdc00 + (v & 0x3ff));
      } else {
        std::snprintf(hex, sizeof hex, "\\u%04x", cp);
      }
      out += hex;
    } else {
      out.append(s, i, len);
    }
  }
  out += '"';
  return out;
}

}  // namespace llmr::jinja
