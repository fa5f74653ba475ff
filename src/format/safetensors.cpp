#include "format/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "core/error.h"

namespace llmr {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 8;  // the header is {name: {dtype, shape: [...], ...}}

[[noreturn]] void fail(const MappedFile& f, const std::string& msg) {
  throw Error(f.path().string() + ": " + msg);
}

// Parses the header, rejecting deep nesting and duplicate top-level keys (json keeps the last).
json parse_header(const MappedFile& f, const char* begin, size_t n) {
  std::unordered_set<std::string> top_keys;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) fail(f, "safetensors header nests deeper than " + std::to_string(kMaxJsonDepth));
    if (event == json::parse_event_t::key && depth == 1 && parsed.is_string() &&
        !top_keys.insert(parsed.get<std::string>()).second)
      fail(f, "safetensors header names '" + parsed.get<std::string>() + "' twice");
    return true;
  };
  try {
    return json::parse(begin, begin + n, cb);
  } catch (const json::exception& e) {
    fail(f, std::string("safetensors header is not valid JSON: ") + e.what());
  }
}

std::optional<DType> parse_st_dtype(const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  return std::nullopt;
}

uint64_t unsigned_field(const MappedFile& f, const json& v, const std::string& what) {
  if (!v.is_number_unsigned()) fail(f, what + " is not a non-negative integer");
  return v.get<uint64_t>();
}

struct Parsed {
  std::string name;
  DType type;
  std::vector<int64_t> shape;
  uint64_t begin, end;
};

Parsed parse_entry(const MappedFile& f, const std::string& name, const json& e, uint64_t data_bytes) {
  const std::string who = "tensor '" + name + "'";
  if (!e.is_object()) fail(f, who + " header entry is not an object");
  auto dt = e.find("dtype");
  auto sh = e.find("shape");
  auto off = e.find("data_offsets");
  if (dt == e.end() || !dt->is_string()) fail(f, who + " has no string 'dtype'");
  if (sh == e.end() || !sh->is_array()) fail(f, who + " has no 'shape' array");
  if (off == e.end() || !off->is_array() || off->size() != 2)
    fail(f, who + " has no 'data_offsets' pair");

  Parsed p;
  p.name = name;
  auto type = parse_st_dtype(dt->get<std::string>());
  if (!type) fail(f, who + " has unsupported dtype " + dt->get<std::string>() + " (expected F32, F16 or BF16)");
  p.type = *type;
  if (sh->size() > size_t(kMaxDims))
    fail(f, who + " has " + std::to_string(sh->size()) + " dimensions (at most 4 supported)");
  uint64_t numel = 1;
  for (const auto& d : *sh) {
    uint64_t n = unsigned_field(f, d, who + " shape dimension");
    if (n > uint64_t(std::numeric_limits<int64_t>::max())) fail(f, who + " dimension is too large");
    if (n != 0 && numel > uint64_t(std::numeric_limits<int64_t>::max()) / n)
      fail(f, who + " element count overflows int64");
    numel *= n;
    p.shape.push_back(int64_t(n));
  }
  if (p.shape.empty()) p.shape.push_back(1);  // a scalar: one element
  const uint64_t elem = info(p.type).block_bytes;
  if (numel > std::numeric_limits<uint64_t>::max() / elem) fail(f, who + " byte size overflows");
  const uint64_t nbytes = numel * elem;
  p.begin = unsigned_field(f, (*off)[0], who + " data_offsets[0]");
  p.end = unsigned_field(f, (*off)[1], who + " data_offsets[1]");
  if (p.begin > p.end)
    fail(f, who + " data_offsets [" + std::to_string(p.begin) + ", " + std::to_string(p.end) + "] are reversed");
  if (p.end > data_bytes)
    fail(f, who + " data_offsets end " + std::to_string(p.end) + " lies past the data section of " +
                std::to_string(data_bytes) + " bytes");
  if (p.end - p.begin != nbytes)
    fail(f, who + " has " + std::to_string(p.end - p.begin) + " bytes but its dtype and shape need " +
                std::to_string(nbytes));
  return p;
}

// The file whose mapping holds the tensor's bytes, for messages.
std::string owner_of(const ModelFile& mf, const TensorEntry& e) {
  const auto* p = static_cast<const uint8_t*>(e.tensor.data);
  for (const auto& m : mf.mappings)
    if (m && p >= m->data() && p < m->data() + m->size()) return m->path().string();
  return "an earlier file";
}

}  // namespace

void add_safetensors(ModelFile& mf, std::shared_ptr<MappedFile> file) {
  check(file != nullptr, "add_safetensors: no file");
  const MappedFile& f = *file;
  if (f.size() < 8) fail(f, "too short for a safetensors header (" + std::to_string(f.size()) + " bytes)");
  uint64_t header_len;
  std::memcpy(&header_len, f.data(), 8);
  if (header_len > kMaxSafetensorsHeaderBytes)
    fail(f, "safetensors header length " + std::to_string(header_len) + " exceeds the limit of " +
                std::to_string(kMaxSafetensorsHeaderBytes) + " bytes");
  if (header_len > f.size() - 8)
    fail(f, "safetensors header length " + std::to_string(header_len) + " runs past the end of the file");
  const char* text = reinterpret_cast<const char*>(f.data() + 8);
  json header = parse_header(f, text, size_t(header_len));
  if (!header.is_object()) fail(f, "safetensors header is not a JSON object");

  const uint64_t data_start = 8 + header_len;
  const uint64_t data_bytes = f.size() - data_start;
  std::vector<Parsed> parsed;
  parsed.reserve(header.size());
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") {
      if (!it->is_object()) fail(f, "safetensors __metadata__ is not an object");
      for (auto m = it->begin(); m != it->end(); ++m) {
        if (!m->is_string()) fail(f, "safetensors __metadata__ value of '" + m.key() + "' is not a string");
        mf.metadata.set(m.key(), MetaValue::str(m->get<std::string>()));
      }
      continue;
    }
    parsed.push_back(parse_entry(f, it.key(), *it, data_bytes));
  }
  // File order, so walking the tensors walks the file front to back.
  std::sort(parsed.begin(), parsed.end(), [](const Parsed& a, const Parsed& b) { return a.begin < b.begin; });
  for (auto& p : parsed) {
    if (const TensorEntry* prev = mf.find(p.name))
      fail(f, "tensor '" + p.name + "' is also in " + owner_of(mf, *prev));
    TensorEntry e;
    e.file_offset = data_start + p.begin;
    e.nbytes = size_t(p.end - p.begin);
    // The mapping is read-only; Tensor's pointer is non-const only because views are shared with outputs.
    void* data = const_cast<uint8_t*>(f.data()) + e.file_offset;
    e.tensor = Tensor::view(data, p.type, p.shape);
    e.name = std::move(p.name);
    mf.tensors.push_back(std::move(e));
  }
  mf.file_bytes += f.size();
  mf.mappings.push_back(std::move(file));
}

ModelFile parse_safetensors(std::shared_ptr<MappedFile> file) {
  ModelFile mf;
  mf.format = FileFormat::Safetensors;
  mf.path = file ? file->path() : std::filesystem::path();
  add_safetensors(mf, std::move(file));
  return mf;
}

}  // namespace llmr
