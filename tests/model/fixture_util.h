#pragma once
// Access to the golden fixtures of tests/fixtures (made by tools/make_fixtures.py with transformers).
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "format/mapped_file.h"
#include "format/safetensors.h"

namespace llmr::testing {

inline std::filesystem::path fixtures_dir() { return std::filesystem::path(LLMR_SOURCE_DIR) / "tests/fixtures"; }

inline std::vector<std::string> fixture_names() {
  return {"llama2", "llama3", "llama-mqa", "mistral", "qwen2", "qwen3"};
}

struct Fixture {
  std::string name;
  std::filesystem::path dir;
  nlohmann::json expected;
  ModelFile logits;  // prompt_logits [P, V], decode_logits [D, V]

  std::vector<int32_t> ids(const char* key) const { return expected[key].get<std::vector<int32_t>>(); }
  Tensor prompt_logits() const { return logits.get("prompt_logits").tensor; }
  Tensor decode_logits() const { return logits.get("decode_logits").tensor; }
};

inline Fixture load_fixture(const std::string& name) {
  Fixture f;
  f.name = name;
  f.dir = fixtures_dir() / name;
  std::ifstream in(f.dir / "expected.json");
  f.expected = nlohmann::json::parse(in);
  f.logits = parse_safetensors(MappedFile::open(f.dir / "expected_logits.safetensors"));
  return f;
}

}  // namespace llmr::testing
