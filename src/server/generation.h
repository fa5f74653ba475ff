#pragma once
// Drives a request's sequences to their end: token ids become text (whole UTF-8 characters), stop
// sequences are cut, deltas go to the API's writer, and a client that goes away cancels them.
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "runtime/sequence.h"
#include "server/http_server.h"
#include "tokenizer/tokenizer.h"

namespace llmr::server {

struct ChoiceResult {
  std::string text;
  std::string finish_reason;  // "stop" | "length"
  int64_t completion_tokens = 0;
  std::vector<int32_t> tokens;
};

struct GenerationOutcome {
  std::vector<ChoiceResult> choices;
  bool client_gone = false;
  std::string error;  // a failed sequence
  double first_token_seconds = 0, total_seconds = 0;
};

// on_delta(choice, text) comes once per generated token, with "" when the token shows no text yet;
// it and on_finish(choice, result) return false when the client is gone.
using DeltaFn = std::function<bool(size_t, const std::string&)>;
using FinishFn = std::function<bool(size_t, const ChoiceResult&)>;

// prime_token: the prompt's last token, when the text continues it (so a SentencePiece word
// boundary keeps its space).
GenerationOutcome run_generation(const std::vector<std::shared_ptr<Sequence>>& seqs, const Tokenizer& tok,
                                 const std::vector<std::string>& stops, HttpResponder& client,
                                 const DeltaFn& on_delta, const FinishFn& on_finish, int32_t prime_token = -1);

}  // namespace llmr::server
