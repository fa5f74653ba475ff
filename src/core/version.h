#pragma once
namespace llmr {
inline const char* version() { return LLMR_VERSION; }
}  // namespace llmr
