#pragma once
// The one error type of llmr: a message that names the file, key, tensor or field at fault.
#include <stdexcept>
#include <string>

namespace llmr {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// Throws Error(message) when condition is false; for checks on untrusted input.
inline void check(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace llmr
