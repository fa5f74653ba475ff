#pragma once
#include "tokenizer/tokenizer_spec.h"

namespace llmr {
// Adds the ids of tokens that end a turn in the chat formats we know (<|eot_id|>, <|im_end|>, ...) and eos.
void add_end_of_turn_tokens(TokenizerSpec& spec);
}  // namespace llmr
