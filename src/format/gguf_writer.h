#pragma once
// GGUF v3 writer, laid out as llama.cpp's gguf.cpp writes files; tensor bytes are streamed from
// the caller's pointers, so no second copy of the weights is held in memory.
#include <cstddef>
#include <filesystem>
#include <functional>
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

  // Fills dst with the tensor's bytes (its full size by shape and type).
  using TensorFill = std::function<void(void* dst)>;
  // A tensor produced at write time: fill runs once, in order, into a buffer reused across
  // tensors, so generated or re-encoded weights never all sit in memory at once.
  void add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape, TensorFill fill);

  // Writes path (via a temporary file renamed into place); throws Error naming the problem.
  void write(const std::filesystem::path& path) const;

 private:
  struct PendingTensor {
    std::string name;
    DType type;
    std::vector<int64_t> shape;
    const void* data;
    size_t nbytes;
    TensorFill fill;  // set for tensors produced at write time (data is then null)
  };
  uint32_t alignment() const;
  // The byte size of a tensor of this shape and type; throws Error naming the tensor if invalid.
  size_t checked_size(const std::string& name, DType type, const std::vector<int64_t>& shape) const;

  Metadata metadata_;
  std::vector<PendingTensor> tensors_;
};

}  // namespace llmr
