#include "tokenizer/utf8.h"

namespace llmr::utf8 {
namespace {

// Length of the valid sequence at pos, or 0 with `bad` = bytes of the maximal invalid subpart.
size_t valid_sequence_at(std::string_view s, size_t pos, size_t& bad) {
  auto byte = [&](size_t i) { return static_cast<unsigned char>(s[i]); };
  unsigned char c = byte(pos);
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) need = 1;
  else if (c >= 0xE0 && c <= 0xEF) { need = 2; if (c == 0xE0) lo = 0xA0; if (c == 0xED) hi = 0x9F; }
  else if (c >= 0xF0 && c <= 0xF4) { need = 3; if (c == 0xF0) lo = 0x90; if (c == 0xF4) hi = 0x8F; }
  else { bad = 1; return 0; }
  size_t i = 1;
  for (; i <= need; ++i) {
    if (pos + i >= s.size()) { bad = i; return 0; }
    unsigned char b = byte(pos + i);
    if (b < lo || b > hi) { bad = i; return 0; }
    lo = 0x80; hi = 0xBF;
  }
  return need + 1;
}

}  // namespace

void append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

bool is_valid(std::string_view s) {
  for (size_t pos = 0, bad = 0; pos < s.size();) {
    size_t n = valid_sequence_at(s, pos, bad);
    if (n == 0) return false;
    pos += n;
  }
  return true;
}

std::string sanitize(std::string_view s) {
  if (is_valid(s)) return std::string(s);
  std::string out;
  out.reserve(s.size() + 16);
  for (size_t pos = 0; pos < s.size();) {
    size_t bad = 0, n = valid_sequence_at(s, pos, bad);
    if (n) {
      out.append(s.substr(pos, n));
      pos += n;
    } else {
      out.append("\xEF\xBF\xBD");
      pos += bad;
    }
  }
  return out;
}

size_t complete_prefix(std::string_view s) {
  // Only the last three bytes can start an unfinished sequence.
  size_t start = s.size() > 3 ? s.size() - 3 : 0;
  for (size_t pos = start; pos < s.size(); ++pos) {
    unsigned char c = static_cast<unsigned char>(s[pos]);
    if (c < 0xC2 || c > 0xF4) continue;
    size_t bad = 0;
    if (valid_sequence_at(s, pos, bad) == 0 && pos + bad >= s.size()) return pos;  // truncated, not wrong
  }
  return s.size();
}

}  // namespace llmr::utf8
