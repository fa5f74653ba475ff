#include "tokenizer/end_of_turn.h"

#include <algorithm>

namespace llmr {

void add_end_of_turn_tokens(TokenizerSpec& spec) {
  static const char* const names[] = {
      "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end_of_text|>", "<|endoftext|>", "<end_of_turn>", "<eos>", "</s>",
      "<\xEF\xBD\x9C" "end\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>", "<|end|>", "<|return|>", "<|call|>"};
  for (const char* name : names)
    for (const auto& a : spec.added)
      if (a.content == name) spec.end_of_generation.push_back(a.id);
  if (spec.eos_id >= 0) spec.end_of_generation.push_back(spec.eos_id);
  std::sort(spec.end_of_generation.begin(), spec.end_of_generation.end());
  spec.end_of_generation.erase(std::unique(spec.end_of_generation.begin(), spec.end_of_generation.end()),
                               spec.end_of_generation.end());
}

}  // namespace llmr
