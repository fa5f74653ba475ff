#pragma once
// A model file opened, its config read and its weights bound: everything a Transformer needs.
#include <filesystem>
#include <memory>

#include "format/model_file.h"
#include "model/model_config.h"
#include "model/model_weights.h"

namespace llmr {

struct LoadedModel {
  ModelFile file;
  ModelConfig config;
  ModelWeights weights;
};

// Opens a .gguf file or a Hugging Face directory; throws Error naming what is wrong with it.
std::unique_ptr<LoadedModel> load_model(const std::filesystem::path& path);

}  // namespace llmr
