#pragma once
// safetensors: an 8-byte header length, a JSON header, then raw little-endian tensor bytes.
#include <cstdint>
#include <memory>

#include "format/mapped_file.h"
#include "format/model_file.h"

namespace llmr {

constexpr uint64_t kMaxSafetensorsHeaderBytes = uint64_t(100) << 20;

// Parses one file's bytes into a ModelFile (format Safetensors, no config); throws Error naming
// the problem. The ModelFile keeps `file` alive.
ModelFile parse_safetensors(std::shared_ptr<MappedFile> file);

// Adds one file's tensors and __metadata__ to mf; a tensor name mf already holds is an error.
void add_safetensors(ModelFile& mf, std::shared_ptr<MappedFile> file);

}  // namespace llmr
