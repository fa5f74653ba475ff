// libFuzzer target: GGUF parsing from memory must either succeed with in-bounds views or throw Error.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "format/gguf_reader.h"
#include "format/mapped_file.h"

namespace {

// Reads every metadata value back through the typed getters, as model loaders do.
void touch_metadata(const llmr::Metadata& md) {
  for (const auto& [key, v] : md.entries()) {
    try {
      switch (v.type) {
        case llmr::MetaType::STRING: (void)md.get_string(key); break;
        case llmr::MetaType::ARRAY:
          if (md.get_array(key).element_type == llmr::MetaType::STRING) (void)md.get_string_array(key);
          break;
        case llmr::MetaType::F32: case llmr::MetaType::F64: (void)md.get_float(key); break;
        case llmr::MetaType::BOOL: (void)md.get_bool(key); break;
        default: (void)md.get_int(key); break;
      }
    } catch (const llmr::Error&) {
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    llmr::ModelFile mf = llmr::parse_gguf(llmr::MappedFile::from_bytes(data, size, "fuzz.gguf"));
    touch_metadata(mf.metadata);
    const auto& file = *mf.mappings.at(0);
    volatile uint8_t sink = 0;
    for (const auto& t : mf.tensors) {
      // The in-memory copy is padded to 64 bytes, so check bounds explicitly rather than via ASan.
      if (t.file_offset > size || t.nbytes > size - t.file_offset) std::abort();
      if (static_cast<const uint8_t*>(t.tensor.data) != file.data() + t.file_offset) std::abort();
      if (t.nbytes) sink = sink ^ file.data()[t.file_offset] ^ file.data()[t.file_offset + t.nbytes - 1];
      if (mf.find(t.name) == nullptr) std::abort();
    }
  } catch (const llmr::Error&) {
  }
  return 0;
}
