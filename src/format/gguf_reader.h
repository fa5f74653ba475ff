#pragma once
// GGUF v2/v3 reader: metadata and zero-copy tensor views into the mapped bytes.
#include <memory>

#include "format/mapped_file.h"
#include "format/model_file.h"

namespace llmr {

constexpr uint32_t kGgufDefaultAlignment = 32;
constexpr int kGgufMaxArrayDepth = 8;  // nesting deeper than this is rejected as hostile

// True when the bytes start with the GGUF magic.
bool has_gguf_magic(const MappedFile& file);

// Parses GGUF bytes (a mapped file or an in-memory copy); throws Error naming the problem.
// The returned ModelFile keeps `file` alive in its mappings.
ModelFile parse_gguf(std::shared_ptr<MappedFile> file);

}  // namespace llmr
