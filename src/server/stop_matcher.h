#pragma once
// Stop sequences over streamed text: text that could still be the start of a stop sequence is held
// back until the next piece decides it, so no chunk ever shows part of a stop sequence.
#include <string>
#include <vector>

namespace llmr::server {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);
  // Appends text; returns what is safe to emit now. After a stop sequence, stopped() is true and
  // the returned text ends just before it.
  std::string push(const std::string& text);
  std::string flush();  // the held-back tail, at the end of generation
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace llmr::server
