// synth --vocab-from: a synthetic model carrying another model's tokenizer, padded to the shape's
// vocabulary, loads with a tokenizer that encodes text as the source does and decodes pads to "".
#include <gtest/gtest.h>

#include <unistd.h>

#include <fstream>
#include <functional>
#include <sstream>

#include "format/model_file.h"
#include "model/synthetic_model.h"
#include "runtime/engine.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace llmr {
namespace {

using namespace llmr::testing;

const std::string kSource = std::string(LLMR_SOURCE_DIR) + "/models/default.gguf";

const Metadata& source_metadata() {
  static const ModelFile f = open_gguf(kSource);
  return f.metadata;
}

struct TempFile {
  std::filesystem::path path = std::filesystem::temp_directory_path() /
                               ("llmr-synth-vocab-" + std::to_string(getpid()) + "-" + std::to_string(rng()()) + ".gguf");
  ~TempFile() { std::filesystem::remove(path); }
};

// Random lines of the validation text, with random non-ASCII characters (byte fallback) and pad names mixed in.
std::string random_text() {
  static const std::vector<std::string> lines = [] {
    std::ifstream in(std::string(LLMR_SOURCE_DIR) + "/models/kjv-validation.txt");
    std::vector<std::string> v;
    for (std::string l; std::getline(in, l);) v.push_back(l);
    return v;
  }();
  const char* extras[] = {"\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "[PAD4000]", "  ", "\n", "\xE4\xB8\xAD"};
  std::string s = lines[rng()() % lines.size()];
  for (int k = 0; k < 4; ++k) s.insert(rng()() % (s.size() + 1), extras[rng()() % std::size(extras)]);
  return s;
}

TEST(SyntheticVocab, ServedModelTokenizesLikeTheSourceAndHasTheShapesVocabulary) {
  const auto source_tok = Tokenizer::from_gguf(source_metadata());
  ASSERT_NE(source_tok, nullptr);
  const int32_t n_source = source_tok->vocab_size();
  ModelConfig c = synthetic_shape("tiny");
  c.n_vocab = n_source + 1 + int64_t(rng()() % 700);  // a shape with more rows than the tokenizer has tokens
  const Metadata vocab = synthetic_vocab_from(source_metadata(), c.n_vocab);
  TempFile file;
  write_synthetic_model(c, DType::Q8_0, rng()(), file.path, 2, &vocab);

  EngineOptions o;
  o.model_path = file.path;
  o.threads = 1;
  Engine engine(o);
  const Tokenizer* tok = engine.tokenizer();
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->vocab_size(), c.n_vocab);
  EXPECT_EQ(engine.config().n_vocab, c.n_vocab);
  EXPECT_EQ(tok->kind(), source_tok->kind());
  EXPECT_EQ(tok->bos_id(), source_tok->bos_id());
  EXPECT_EQ(tok->eos_id(), source_tok->eos_id());
  EXPECT_EQ(engine.model().file.metadata.string_or("tokenizer.chat_template"),
            source_metadata().string_or("tokenizer.chat_template"));

  for (int i = 0; i < 40; ++i) {
    const std::string text = random_text();
    EXPECT_EQ(tok->encode(text, true, false), source_tok->encode(text, true, false)) << "'" << text << "'";
    // Parsing special tokens, a pad's name is its control token, as llama.cpp reads it.
    if (text.find("[PAD") == std::string::npos) {
      EXPECT_EQ(tok->encode(text, true, true), source_tok->encode(text, true, true)) << "'" << text << "'";
    }
  }
  const std::string pad_name = "[PAD" + std::to_string(n_source) + "]";
  EXPECT_EQ(tok->encode(pad_name, false, true), std::vector<int32_t>{n_source});
  // The source's tokens decode as in the source.
  for (int i = 0; i < 200; ++i) {
    const int32_t id = int32_t(rng()() % uint64_t(n_source));
    EXPECT_EQ(tok->token_bytes(id), source_tok->token_bytes(id)) << id;
  }
  // Pads: llama.cpp's names, control tokens, nothing when decoded (as a generated token streams).
  for (int32_t id : {n_source, int32_t(c.n_vocab - 1), int32_t(n_source + rng()() % uint64_t(c.n_vocab - n_source))}) {
    EXPECT_EQ(tok->token_text(id), "[PAD" + std::to_string(id) + "]");
    EXPECT_TRUE(tok->is_special(id)) << id;
    EXPECT_FALSE(tok->is_end_of_generation(id)) << id;
    const std::vector<int32_t> ids{source_tok->encode("And", false, false)[0], id};
    EXPECT_EQ(tok->decode(ids, true), source_tok->decode(std::span(ids).first(1), true));
    StreamDecoder stream(*tok);
    EXPECT_EQ(stream.push(id) + stream.flush(), "") << id;
  }
  const MetaArray& types = engine.model().file.metadata.get_array("tokenizer.ggml.token_type");
  EXPECT_EQ(std::get<int64_t>(types.values.back().value), 3);  // GGUF's CONTROL
  const MetaArray& scores = engine.model().file.metadata.get_array("tokenizer.ggml.scores");
  EXPECT_EQ(int64_t(scores.values.size()), c.n_vocab);
}

TEST(SyntheticVocab, ExactFitAddsNoPads) {
  const int64_t n = tokenizer_token_count(source_metadata());
  const Metadata vocab = synthetic_vocab_from(source_metadata(), n);
  EXPECT_EQ(vocab.get_array("tokenizer.ggml.tokens").values.size(), size_t(n));
  EXPECT_EQ(vocab.get_string_array("tokenizer.ggml.tokens"), source_metadata().get_string_array("tokenizer.ggml.tokens"));
  // Only tokenizer keys travel.
  for (const auto& [key, value] : vocab.entries()) EXPECT_EQ(key.rfind("tokenizer.", 0), 0u) << key;
}

TEST(SyntheticVocab, TypesAreMadeWhenTheSourceHasNone) {
  Metadata md;
  md.set("tokenizer.ggml.model", MetaValue::str("llama"));
  const int n = 3 + int(rng()() % 20), n_vocab = n + 1 + int(rng()() % 20);
  std::vector<MetaValue> tokens;
  for (int i = 0; i < n; ++i) tokens.push_back(MetaValue::str("t" + std::to_string(i)));
  md.set("tokenizer.ggml.tokens", MetaValue::array(MetaType::STRING, tokens));
  const Metadata vocab = synthetic_vocab_from(md, n_vocab);
  const MetaArray& types = vocab.get_array("tokenizer.ggml.token_type");
  ASSERT_EQ(types.values.size(), size_t(n_vocab));
  for (int i = 0; i < n_vocab; ++i) EXPECT_EQ(std::get<int64_t>(types.values[size_t(i)].value), i < n ? 1 : 3) << i;
  EXPECT_FALSE(vocab.has("tokenizer.ggml.scores"));
}

void expect_error(const std::function<void()>& f, const std::vector<std::string>& words) {
  try {
    f();
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    for (const auto& w : words) EXPECT_NE(std::string(e.what()).find(w), std::string::npos) << e.what();
  }
}

TEST(SyntheticVocab, BadSourcesAreErrorsThatSayWhy) {
  const int64_t n = tokenizer_token_count(source_metadata());
  expect_error([&] { synthetic_vocab_from(source_metadata(), n - 1); },
               {std::to_string(n) + " tokens", std::to_string(n - 1)});
  Metadata none;
  none.set("tokenizer.ggml.model", MetaValue::str("no_vocab"));
  expect_error([&] { synthetic_vocab_from(none, 1000); }, {"no tokenizer"});
  EXPECT_EQ(tokenizer_token_count(none), 0);

  Metadata short_scores = source_metadata();
  short_scores.set("tokenizer.ggml.scores", MetaValue::array(MetaType::F32, {MetaValue::f32(0.5f)}));
  expect_error([&] { synthetic_vocab_from(short_scores, n + 10); }, {"tokenizer.ggml.scores", "1 entries"});

  // A tokenizer that does not fill the shape's vocabulary is refused by the writer.
  const Metadata unpadded = synthetic_vocab_from(source_metadata(), n);
  ModelConfig c = synthetic_shape("tiny");
  c.n_vocab = n + 5;
  TempFile file;
  expect_error([&] { write_synthetic_model(c, DType::Q8_0, 1, file.path, 1, &unpadded); },
               {std::to_string(n) + " tokens", std::to_string(n + 5)});
}

}  // namespace
}  // namespace llmr
