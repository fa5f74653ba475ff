#include "tokenizer/byte_level.h"

#include <unordered_map>

#include "tokenizer/utf8.h"

namespace llmr::byte_level {
namespace {

struct Tables {
  std::array<std::string, 256> to_text;
  std::unordered_map<uint32_t, uint8_t> to_byte;
  Tables() {
    // Printable Latin-1 bytes map to themselves; the rest take code points from 256 upwards.
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      uint32_t cp = printable ? uint32_t(b) : next++;
      utf8::append(to_text[b], cp);
      to_byte[cp] = uint8_t(b);
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

const std::array<std::string, 256>& byte_to_text() { return tables().to_text; }

std::string encode(std::string_view raw) {
  const auto& t = tables().to_text;
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) out += t[c];
  return out;
}

std::string decode(std::string_view mapped) {
  const auto& m = tables().to_byte;
  std::string out;
  out.reserve(mapped.size());
  for (size_t pos = 0; pos < mapped.size();) {
    size_t start = pos;
    uint32_t cp = utf8::next(mapped, pos);
    auto it = m.find(cp);
    if (it != m.end()) out.push_back(static_cast<char>(it->second));
    else out.append(mapped.substr(start, pos - start));
  }
  return out;
}

}  // namespace llmr::byte_level
