#pragma once
// Unicode Normalization Form C (what JavaScript's String.prototype.normalize("NFC") produces).
#include <string>
#include <string_view>

namespace llmr {

// Input must be valid UTF-8.
std::string nfc_normalize(std::string_view text);

}  // namespace llmr
