#pragma once
// A small safetensors writer for tests and tools; tensor bytes are streamed from the caller's pointers.
#include <cstddef>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "tensor/dtype.h"

namespace llmr {

struct SafetensorsTensor {
  std::string name;
  DType type;                  // F32, F16 or BF16
  std::vector<int64_t> shape;  // row-major
  const void* data;
  size_t nbytes;               // must equal product(shape) * element size
};

// Writes the tensors in the given order; metadata becomes the header's __metadata__.
void write_safetensors(const std::filesystem::path& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace llmr
