#include "format/safetensors_writer.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

#include "core/error.h"

namespace llmr {

namespace {
const char* st_dtype_name(DType t, const std::string& tensor) {
  switch (t) {
    case DType::F32: return "F32";
    case DType::F16: return "F16";
    case DType::BF16: return "BF16";
    default: throw Error("safetensors writer: tensor '" + tensor + "' has unsupported type " + name(t));
  }
}
}  // namespace

void write_safetensors(const std::filesystem::path& path, const std::vector<SafetensorsTensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    const std::string who = "safetensors writer: tensor '" + t.name + "'";
    check(!header.contains(t.name), who + " is named twice");
    uint64_t numel = 1;
    for (int64_t d : t.shape) {
      check(d >= 0, who + " has a negative dimension");
      numel *= uint64_t(d);
    }
    const char* dt = st_dtype_name(t.type, t.name);
    check(numel * info(t.type).block_bytes == t.nbytes,
          who + " has " + std::to_string(t.nbytes) + " bytes, its shape needs " +
              std::to_string(numel * info(t.type).block_bytes));
    header[t.name] = {{"dtype", dt}, {"shape", t.shape}, {"data_offsets", {offset, offset + t.nbytes}}};
    offset += t.nbytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keep the data section 8-byte aligned

  FILE* f = std::fopen(path.c_str(), "wb");
  check(f != nullptr, path.string() + ": cannot open for writing: " + std::strerror(errno));
  uint64_t n = text.size();
  bool ok = std::fwrite(&n, 8, 1, f) == 1 && std::fwrite(text.data(), 1, text.size(), f) == text.size();
  for (const auto& t : tensors)
    if (ok && t.nbytes) ok = std::fwrite(t.data, 1, t.nbytes, f) == t.nbytes;
  ok = (std::fclose(f) == 0) && ok;
  check(ok, path.string() + ": write failed");
}

}  // namespace llmr
