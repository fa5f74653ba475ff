// Every corpus item encodes to exactly the ids transformers.js gives, for every vocabulary, through
// tokenizer.json and through GGUF metadata; and decodes back to the text.
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "format/gguf_writer.h"
#include "format/model_file.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"
#include "tokenizer/tokenizer_spec.h"
#include "tokenizer/unicode_added_data.h"
#include "tokenizer/unicode_nfc.h"
#include "tokenizer/utf8.h"

namespace llmr {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string base64_decode(const std::string& in) {
  std::string out;
  int val = 0, bits = -8;
  for (unsigned char c : in) {
    int d = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26 : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '+' ? 62 : c == '/' ? 63 : -1;
    if (d < 0) continue;
    val = (val << 6) | d;
    bits += 6;
    if (bits >= 0) { out.push_back(char((val >> bits) & 0xFF)); bits -= 8; }
  }
  return out;
}

// Runs the node oracle once per test program; the seed is fresh per run (LLMR_TEST_SEED fixes it).
const json& expected() {
  static json data = [] {
    fs::path oracle = fs::path(LLMR_SOURCE_DIR) / "tests" / "oracle";
    if (!fs::exists(oracle / "node_modules" / "@lenml" / "tokenizers"))
      throw std::runtime_error("tests/oracle/node_modules is missing: run `npm ci --prefix tests/oracle`");
    fs::path out = fs::path(LLMR_BINARY_DIR) / "tokenizer_oracle" / "expected.json";
    uint64_t seed = testing::test_seed() & 0xffffffffu;
    std::string cmd = "node '" + (oracle / "tokenizer_oracle.mjs").string() + "' --corpus '" +
                      (fs::path(LLMR_SOURCE_DIR) / "tests" / "tokenizer" / "corpus").string() + "' --out '" +
                      out.string() + "' --seed " + std::to_string(seed);
    std::printf("oracle: %s\n", cmd.c_str());
    if (std::system(cmd.c_str()) != 0) throw std::runtime_error("the node oracle failed: " + cmd);
    std::ifstream in(out);
    std::stringstream ss;
    ss << in.rdbuf();
    return json::parse(ss.str());
  }();
  return data;
}

std::string show(const std::vector<int32_t>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size() && i < 40; ++i) s += std::to_string(ids[i]) + " ";
  return ids.size() > 40 ? s + "..." : s;
}

// Counts items whose ids differ from the oracle's, printing the first few.
int mismatches(const Tokenizer& tok, const json& vocab, const char* how) {
  const json& items = expected()["items"];
  int bad = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    std::string text = base64_decode(items[i]["b64"].get<std::string>());
    for (const char* mode : {"with_special", "plain"}) {
      auto want = vocab[mode][i].get<std::vector<int32_t>>();
      auto got = tok.encode(text, std::string(mode) == "with_special", true);
      if (got == want) continue;
      if (++bad <= 5) {
        size_t k = 0;
        while (k < got.size() && k < want.size() && got[k] == want[k]) ++k;
        ADD_FAILURE() << how << ": item " << items[i]["name"] << " (" << mode << ") differs at token " << k
                      << " (the oracle's Unicode " << expected().value("unicode", std::string("?"))
                      << ", llmr's tables " << unicode_added::kVersion << ")"
                      << "\n  want: " << show(std::vector<int32_t>(want.begin() + k, want.end()))
                      << "\n  got:  " << show(std::vector<int32_t>(got.begin() + std::min(k, got.size()), got.end()));
      }
    }
  }
  return bad;
}

size_t first_difference(const std::string& a, const std::string& b) {
  size_t k = 0;
  while (k < a.size() && k < b.size() && a[k] == b[k]) ++k;
  return k;
}

class TokenizerOracle : public ::testing::TestWithParam<std::string> {};

TEST_P(TokenizerOracle, HfDirMatchesIdsAndRoundTrips) {
  const json& vocab = expected()["vocabs"][GetParam()];
  auto tok = Tokenizer::from_hf_dir(vocab["dir"].get<std::string>());
  EXPECT_EQ(mismatches(*tok, vocab, "tokenizer.json"), 0) << "seed " << expected()["seed"];

  bool nfc = false;
  for (const auto& s : tok->spec().normalizer) nfc = nfc || s.kind == NormalizerStep::Kind::Nfc;
  for (const json& item : expected()["items"]) {
    std::string text = base64_decode(item["b64"].get<std::string>());
    if (!utf8::is_valid(text)) continue;
    // SentencePiece vocabularies decode "▁" to a space, as the reference does: no round trip for it.
    if (!tok->spec().byte_level && text.find("\xE2\x96\x81") != std::string::npos) continue;
    std::string want = nfc ? nfc_normalize(text) : text;
    auto ids = tok->encode(text, false, false);
    std::string got = tok->decode(ids);
    EXPECT_TRUE(got == want) << "round trip of " << item["name"] << " differs at byte " << first_difference(got, want);
    // Streaming gives the same text, one token at a time.
    StreamDecoder sd(*tok, false);
    std::string streamed;
    for (int32_t id : ids) {
      std::string piece = sd.push(id);
      EXPECT_TRUE(utf8::is_valid(piece)) << item["name"];
      streamed += piece;
    }
    streamed += sd.flush();
    EXPECT_TRUE(streamed == want) << "stream decode of " << item["name"] << " differs at byte "
                                  << first_difference(streamed, want);
  }
}

TEST_P(TokenizerOracle, GgufMetadataGivesTheSameIds) {
  const json& vocab = expected()["vocabs"][GetParam()];
  Metadata md;
  write_tokenizer_to_gguf(fs::path(vocab["dir"].get<std::string>()), md);
  // Through a real file: GGUF writer, then the reader.
  fs::path file = fs::path(LLMR_BINARY_DIR) / "tokenizer_oracle" / (GetParam() + ".gguf");
  GgufWriter w;
  w.set_metadata(md);
  w.write(file);
  ModelFile mf = open_gguf(file);
  auto tok = Tokenizer::from_gguf(mf.metadata);
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(mismatches(*tok, vocab, "gguf"), 0) << "seed " << expected()["seed"];
  fs::remove(file);
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, TokenizerOracle,
                         ::testing::Values("llama2", "llama3", "llama3_1", "qwen3", "gemma3", "deepseek_v3"));

}  // namespace
}  // namespace llmr
