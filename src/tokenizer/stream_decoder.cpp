#include "tokenizer/tokenizer.h"
#include "tokenizer/utf8.h"

namespace llmr {

std::string StreamDecoder::push(int32_t id) {
  if (skip_special_ && tok_.is_special(id)) return "";
  // The first piece goes through decode() so the decoder's leading-space strip applies once.
  pending_ += started_ ? tok_.token_bytes(id) : tok_.decode(std::span<const int32_t>(&id, 1), skip_special_);
  started_ = true;
  size_t n = utf8::complete_prefix(pending_);
  std::string out = utf8::sanitize(std::string_view(pending_).substr(0, n));
  pending_.erase(0, n);
  return out;
}

std::string StreamDecoder::flush() {
  std::string out = utf8::sanitize(pending_);
  pending_.clear();
  return out;
}

}  // namespace llmr
