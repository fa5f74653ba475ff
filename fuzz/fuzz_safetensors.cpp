// libFuzzer target: safetensors parsing from memory must either succeed with in-bounds views or throw Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "format/mapped_file.h"
#include "format/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    llmr::ModelFile mf = llmr::parse_safetensors(llmr::MappedFile::from_bytes(data, size, "fuzz.safetensors"));
    const auto& file = *mf.mappings.at(0);
    volatile uint8_t sink = 0;
    for (const auto& t : mf.tensors) {
      // The in-memory copy is padded to 64 bytes, so check bounds explicitly rather than via ASan.
      if (t.file_offset > size || t.nbytes > size - t.file_offset) std::abort();
      if (static_cast<const uint8_t*>(t.tensor.data) != file.data() + t.file_offset) std::abort();
      if (size_t(t.tensor.numel()) * llmr::info(t.tensor.type).block_bytes != t.nbytes) std::abort();
      if (t.nbytes) sink = sink ^ file.data()[t.file_offset] ^ file.data()[t.file_offset + t.nbytes - 1];
    }
    for (const auto& [key, v] : mf.metadata.entries()) (void)mf.metadata.get_string(key);
  } catch (const llmr::Error&) {
  }
  return 0;
}
