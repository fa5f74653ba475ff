#pragma once
// GPT-2's byte-to-unicode mapping: every byte gets a printable code point so BPE never sees raw bytes.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace llmr::byte_level {

// The UTF-8 text of the code point that stands for each byte.
const std::array<std::string, 256>& byte_to_text();

// Maps every byte of raw to its stand-in character.
std::string encode(std::string_view raw);

// Maps stand-in characters back to bytes; characters outside the map are copied unchanged.
std::string decode(std::string_view mapped);

}  // namespace llmr::byte_level
