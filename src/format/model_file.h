#pragma once
// What every model format loads into: metadata plus named tensors viewing mapped file bytes.
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "format/metadata.h"
#include "tensor/tensor.h"

namespace llmr {

class MappedFile;  // format/mapped_file.h

struct TensorEntry {
  std::string name;
  Tensor tensor;          // row-major: a linear weight is [out, in]; data points into the mapping
  uint64_t file_offset;   // absolute byte offset of the data in its file
  size_t nbytes;
};

enum class FileFormat { Gguf, Safetensors };

struct ModelFile {
  FileFormat format = FileFormat::Gguf;
  std::filesystem::path path;       // the .gguf file or the Hugging Face directory
  uint32_t gguf_version = 0;
  Metadata metadata;                // GGUF key/values; for safetensors, the header's __metadata__
  std::string hf_config_json;       // config.json text for a Hugging Face directory, else empty
  std::vector<TensorEntry> tensors;
  std::vector<std::shared_ptr<MappedFile>> mappings;  // keep the bytes alive
  uint64_t file_bytes = 0;          // total size of the files

  const TensorEntry* find(const std::string& name) const;
  const TensorEntry& get(const std::string& name) const;  // throws Error naming the tensor
};

// Opens a .gguf file, or a Hugging Face directory (config.json + *.safetensors, possibly sharded
// with model.safetensors.index.json). Validates everything; throws Error naming the problem.
ModelFile open_model_file(const std::filesystem::path& path);
ModelFile open_gguf(const std::filesystem::path& path);
ModelFile open_hf_directory(const std::filesystem::path& dir);

}  // namespace llmr
