#include "model/loaded_model.h"

namespace llmr {

std::unique_ptr<LoadedModel> load_model(const std::filesystem::path& path) {
  auto m = std::make_unique<LoadedModel>();
  m->file = open_model_file(path);
  if (m->file.format == FileFormat::Gguf) {
    m->config = config_from_gguf(m->file.metadata);
    if (m->config.n_vocab == 0)
      if (const TensorEntry* e = m->file.find("token_embd.weight")) m->config.n_vocab = e->tensor.shape[0];
    m->config.tied_embeddings = m->file.find("output.weight") == nullptr;
  } else {
    m->config = config_from_hf_json(m->file.hf_config_json);
    if (m->file.find("lm_head.weight") == nullptr) m->config.tied_embeddings = true;
  }
  m->config.validate();
  m->weights = ModelWeights::bind(m->file, m->config);
  return m;
}

}  // namespace llmr
