#pragma once
// UTF-8 validation for names read from untrusted files.
#include <string_view>

namespace llmr {

// True for well-formed UTF-8 (no overlongs, surrogates or code points past U+10FFFF).
bool is_valid_utf8(std::string_view s);

}  // namespace llmr
