#include "format/model_file.h"

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/error.h"
#include "format/gguf_reader.h"
#include "format/mapped_file.h"
#include "format/safetensors.h"

namespace llmr {
namespace fs = std::filesystem;
using nlohmann::json;

namespace {

constexpr uintmax_t kMaxJsonFileBytes = uintmax_t(64) << 20;  // config.json and index files are small

std::string read_small_file(const fs::path& path) {
  std::error_code ec;
  check(fs::is_regular_file(path, ec), path.string() + ": missing (or not a regular file)");
  uintmax_t size = fs::file_size(path, ec);
  check(!ec && size <= kMaxJsonFileBytes, path.string() + ": too large for a JSON file (limit 64 MiB)");
  std::ifstream in(path, std::ios::binary);
  check(bool(in), path.string() + ": cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_json_file(const fs::path& path, const std::string& text) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
}

// Shard names come from an untrusted index: they must be plain file names inside the directory.
bool plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos &&
         s.find('\0') == std::string::npos;
}

}  // namespace

const TensorEntry* ModelFile::find(const std::string& name) const {
  for (const auto& t : tensors)
    if (t.name == name) return &t;
  return nullptr;
}

const TensorEntry& ModelFile::get(const std::string& name) const {
  const TensorEntry* t = find(name);
  check(t != nullptr, path.string() + ": tensor '" + name + "' not found");
  return *t;
}

ModelFile open_hf_directory(const fs::path& dir) {
  std::error_code ec;
  check(fs::is_directory(dir, ec), dir.string() + ": not a directory");
  ModelFile mf;
  mf.format = FileFormat::Safetensors;
  mf.path = dir;

  const fs::path config_path = dir / "config.json";
  mf.hf_config_json = read_small_file(config_path);
  check(parse_json_file(config_path, mf.hf_config_json).is_object(), config_path.string() + ": not a JSON object");

  const fs::path single = dir / "model.safetensors";
  const fs::path index_path = dir / "model.safetensors.index.json";
  if (fs::exists(single, ec)) {
    add_safetensors(mf, MappedFile::open(single));
    return mf;
  }
  check(fs::exists(index_path, ec),
        dir.string() + ": has neither model.safetensors nor model.safetensors.index.json");
  json index = parse_json_file(index_path, read_small_file(index_path));
  const std::string where = index_path.string() + ": ";
  check(index.is_object(), where + "not a JSON object");
  auto wm = index.find("weight_map");
  check(wm != index.end() && wm->is_object(), where + "has no 'weight_map' object");

  std::map<std::string, std::string> shard_of;  // tensor -> shard file
  std::map<std::string, bool> shards;           // sorted, so loading order is deterministic
  for (auto it = wm->begin(); it != wm->end(); ++it) {
    check(it->is_string(), where + "weight_map entry for '" + it.key() + "' is not a string");
    const std::string shard = it->get<std::string>();
    check(plain_file_name(shard), where + "shard name '" + shard + "' is not a plain file name");
    shard_of[it.key()] = shard;
    shards[shard] = true;
  }
  for (const auto& [shard, unused] : shards) {
    const fs::path p = dir / shard;
    check(fs::is_regular_file(p, ec), where + "lists shard '" + shard + "', which is missing");
  }
  std::map<std::string, std::string> found_in;  // tensor -> shard that holds it
  for (const auto& [shard, unused] : shards) {
    size_t before = mf.tensors.size();
    add_safetensors(mf, MappedFile::open(dir / shard));
    for (size_t i = before; i < mf.tensors.size(); ++i) found_in[mf.tensors[i].name] = shard;
  }

  // Every tensor the index names must be in the shard it names.
  for (const auto& [name, shard] : shard_of) {
    auto it = found_in.find(name);
    check(it != found_in.end(), where + "tensor '" + name + "' is listed in shard '" + shard + "' but is in no shard");
    check(it->second == shard, where + "tensor '" + name + "' is listed in shard '" + shard + "' but is in '" +
                                   it->second + "'");
  }
  return mf;
}

ModelFile open_model_file(const fs::path& path) {
  std::error_code ec;
  auto st = fs::status(path, ec);
  check(fs::exists(st), path.string() + ": no such file or directory");
  if (fs::is_directory(st)) return open_hf_directory(path);
  auto file = MappedFile::open(path);
  if (has_gguf_magic(*file)) return parse_gguf(std::move(file));
  check(path.extension() != ".safetensors",
        path.string() + ": a lone safetensors file; pass the Hugging Face directory holding it and config.json");
  throw Error(path.string() + ": neither a GGUF file (bad magic) nor a Hugging Face model directory");
}

}  // namespace llmr
