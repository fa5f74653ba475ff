#pragma once
// GGUF v3 writer, laid out as llama.cpp's gguf.cpp writes files; tensor bytes are streamed from
// the caller's pointers, so no second copy of the weights is held in memory.
#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "format/metadata.h"
#include "tensor/dtype.h"

namespace llmr {

class GgufWriter {
 public:
  void set(const std::string& key, MetaValue value) { metadata_.set(key, std::move(value)); }
  void set_metadata(const Metadata& md);  // adds/replaces every entry of md, in its order
  // Sets general.alignment (a power of two); without it, GGUF's default of 32 applies.
  void set_alignment(uint32_t alignment);

  // shape is row-major ([out, in] for a linear weight); nbytes must equal the tensor's size.
  // data must stay valid until write() returns.
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                  const void* data, size_t nbytes);

  // Writes path (via a temporary file renamed into place); throws Error naming the problem.
  void write(const std::filesystem::path& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    size_t nbytes;
  };
  uint32_t alignment() const;

  Metadata metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace llmr
