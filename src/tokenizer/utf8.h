#pragma once
// UTF-8 helpers: decoding code points, replacing invalid bytes as WHATWG TextDecoder does.
#include <cstdint>
#include <string>
#include <string_view>

namespace llmr::utf8 {

// Invalid sequences become U+FFFD, one per maximal invalid subpart (the WHATWG / JS TextDecoder rule).
std::string sanitize(std::string_view bytes);
bool is_valid(std::string_view bytes);

// Decodes the code point at pos of VALID UTF-8 and advances pos.
inline uint32_t next(std::string_view s, size_t& pos) {
  unsigned char c = static_cast<unsigned char>(s[pos]);
  if (c < 0x80) { ++pos; return c; }
  int n = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
  uint32_t cp = c & (0x3F >> n);
  for (int i = 1; i <= n && pos + i < s.size(); ++i) cp = (cp << 6) | (static_cast<unsigned char>(s[pos + i]) & 0x3F);
  pos += n + 1;
  return cp;
}

// Bytes in the sequence a lead byte starts (1 for ASCII and for bytes that cannot lead).
inline size_t sequence_length(unsigned char lead) {
  return lead >= 0xF0 && lead <= 0xF4 ? 4 : lead >= 0xE0 && lead < 0xF0 ? 3 : lead >= 0xC2 && lead < 0xE0 ? 2 : 1;
}

void append(std::string& out, uint32_t cp);

// Length of the longest prefix that does not end inside a sequence that could still complete.
size_t complete_prefix(std::string_view bytes);

}  // namespace llmr::utf8
