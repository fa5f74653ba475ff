#include "format/gguf_reader.h"

#include <bit>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "core/error.h"
#include "format/utf8.h"

namespace llmr {
namespace {

static_assert(std::endian::native == std::endian::little, "GGUF reading assumes a little-endian host");

// What is being read, formatted only when a read fails (hot loops read 100k+ values).
struct What {
  const char* text;
  const std::string* name = nullptr;  // key or tensor name, quoted after text
  std::string str() const { return name ? std::string(text) + " '" + *name + "'" : std::string(text); }
};

// Bounds-checked little-endian cursor over the file; every error names the file.
class Cursor {
 public:
  explicit Cursor(const MappedFile& f) : file_(f), p_(f.data()), end_(f.data() + f.size()) {}

  size_t pos() const { return size_t(p_ - file_.data()); }
  uint64_t remaining() const { return uint64_t(end_ - p_); }

  [[noreturn]] void fail(const std::string& msg) const {
    throw Error(file_.path().string() + ": " + msg);
  }
  void need(uint64_t n, What what) const {
    if (n > remaining())
      fail("truncated " + what.str() + " at byte " + std::to_string(pos()) + " (needs " +
           std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left)");
  }

  template <typename T>
  T read(What what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, p_, sizeof(T));
    p_ += sizeof(T);
    return v;
  }

  std::string read_string(What what) {
    uint64_t n = read<uint64_t>(what);
    need(n, what);  // bounds before allocating
    std::string s(reinterpret_cast<const char*>(p_), size_t(n));
    p_ += n;
    return s;
  }

 private:
  const MappedFile& file_;
  const uint8_t* p_;
  const uint8_t* end_;
};

bool valid_meta_type(uint32_t t) { return t <= uint32_t(MetaType::F64); }

// Smallest encoding of one value of type t, to bound counts by the bytes left.
uint64_t min_encoded_size(MetaType t) {
  switch (t) {
    case MetaType::U8: case MetaType::I8: case MetaType::BOOL: return 1;
    case MetaType::U16: case MetaType::I16: return 2;
    case MetaType::U32: case MetaType::I32: case MetaType::F32: return 4;
    case MetaType::U64: case MetaType::I64: case MetaType::F64: return 8;
    case MetaType::STRING: return 8;
    case MetaType::ARRAY: return 12;
  }
  return 1;
}

// Caps the values of all arrays together: each costs ~48 bytes of memory but may take 1 byte of file.
constexpr uint64_t kMaxMetadataValues = uint64_t(1) << 24;

class GgufParser {
 public:
  explicit GgufParser(const MappedFile& f) : c_(f) {}

  MetaValue read_value(MetaType t, const std::string& key, int depth) {
    switch (t) {
      case MetaType::U8: return {t, uint64_t(c_.read<uint8_t>(What{"value of key", &key}))};
      case MetaType::I8: return {t, int64_t(c_.read<int8_t>(What{"value of key", &key}))};
      case MetaType::U16: return {t, uint64_t(c_.read<uint16_t>(What{"value of key", &key}))};
      case MetaType::I16: return {t, int64_t(c_.read<int16_t>(What{"value of key", &key}))};
      case MetaType::U32: return {t, uint64_t(c_.read<uint32_t>(What{"value of key", &key}))};
      case MetaType::I32: return {t, int64_t(c_.read<int32_t>(What{"value of key", &key}))};
      case MetaType::U64: return {t, c_.read<uint64_t>(What{"value of key", &key})};
      case MetaType::I64: return {t, c_.read<int64_t>(What{"value of key", &key})};
      case MetaType::F32: return {t, double(c_.read<float>(What{"value of key", &key}))};
      case MetaType::F64: return {t, c_.read<double>(What{"value of key", &key})};
      case MetaType::BOOL: {
        uint8_t b = c_.read<uint8_t>(What{"value of key", &key});
        if (b > 1) c_.fail("metadata key '" + key + "' has bool value " + std::to_string(b) + " (not 0 or 1)");
        return {t, b == 1};
      }
      case MetaType::STRING: return {t, c_.read_string(What{"value of key", &key})};
      case MetaType::ARRAY: return {t, read_array(key, depth + 1)};
    }
    c_.fail("metadata key '" + key + "' has unknown value type " + std::to_string(uint32_t(t)));
  }

  MetaArray read_array(const std::string& key, int depth) {
    if (depth > kGgufMaxArrayDepth)
      c_.fail("metadata key '" + key + "' nests arrays deeper than " + std::to_string(kGgufMaxArrayDepth));
    uint32_t et = c_.read<uint32_t>({"array element type of key", &key});
    if (!valid_meta_type(et))
      c_.fail("metadata key '" + key + "' is an array of unknown value type " + std::to_string(et));
    uint64_t n = c_.read<uint64_t>({"array length of key", &key});
    MetaArray a;
    a.element_type = MetaType(et);
    // Counts are bounded by the bytes left before anything is allocated.
    if (n > c_.remaining() / min_encoded_size(a.element_type))
      c_.fail("metadata key '" + key + "' array of " + std::to_string(n) + " " +
              meta_type_name(a.element_type) + " elements runs past the end of the file");
    total_values_ += n;
    if (total_values_ > kMaxMetadataValues)
      c_.fail("metadata key '" + key + "' brings the metadata past " + std::to_string(kMaxMetadataValues) +
              " values");
    a.values.reserve(size_t(n));
    for (uint64_t i = 0; i < n; ++i) a.values.push_back(read_value(a.element_type, key, depth));
    return a;
  }

  void read_kv(Metadata& md, uint64_t index) {
    std::string key = c_.read_string({"metadata key"});
    if (!is_valid_utf8(key)) c_.fail("metadata key #" + std::to_string(index) + " is not valid UTF-8");
    if (md.has(key)) c_.fail("duplicate metadata key '" + key + "'");
    uint32_t t = c_.read<uint32_t>({"value type of key", &key});
    if (!valid_meta_type(t)) c_.fail("metadata key '" + key + "' has unknown value type " + std::to_string(t));
    md.set(key, read_value(MetaType(t), key, 0));
  }

  Cursor& cursor() { return c_; }

 private:
  Cursor c_;
  uint64_t total_values_ = 0;
};

struct RawTensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // row-major (reversed from ggml's ne)
  DType type;
  uint64_t offset;
  size_t nbytes;
};

// Reads one tensor info and validates its shape and type; the offset is checked later.
RawTensorInfo read_tensor_info(Cursor& c, uint64_t index) {
  RawTensorInfo t;
  t.name = c.read_string({"tensor name"});
  if (!is_valid_utf8(t.name)) c.fail("tensor name #" + std::to_string(index) + " is not valid UTF-8");
  const std::string who = "tensor '" + t.name + "'";
  uint32_t n_dims = c.read<uint32_t>({"dimension count of tensor", &t.name});
  if (n_dims < 1 || n_dims > uint32_t(kMaxDims))
    c.fail(who + " has " + std::to_string(n_dims) + " dimensions (expected 1 to 4)");
  int64_t ne[kMaxDims];
  for (uint32_t d = 0; d < n_dims; ++d) {
    ne[d] = c.read<int64_t>({"dimension of tensor", &t.name});
    if (ne[d] < 0) c.fail(who + " has negative dimension " + std::to_string(ne[d]));
  }
  uint32_t type = c.read<uint32_t>({"type of tensor", &t.name});
  auto ti = dtype_info(type);
  if (!ti) c.fail(who + " has unsupported tensor type " + std::to_string(type));
  t.type = ti->type;
  t.offset = c.read<uint64_t>({"data offset of tensor", &t.name});

  int64_t numel = 1;
  for (uint32_t d = 0; d < n_dims; ++d) {
    if (ne[d] != 0 && numel > std::numeric_limits<int64_t>::max() / ne[d])
      c.fail(who + " element count overflows int64");
    numel *= ne[d];
  }
  if (ne[0] % ti->block_elems != 0)
    c.fail(who + " row of " + std::to_string(ne[0]) + " elements is not a multiple of the " + ti->name +
           " block size " + std::to_string(ti->block_elems));
  uint64_t blocks = uint64_t(numel / ti->block_elems);
  if (blocks != 0 && ti->block_bytes > std::numeric_limits<size_t>::max() / blocks)
    c.fail(who + " byte size overflows size_t");
  t.nbytes = size_t(blocks * ti->block_bytes);
  for (int d = int(n_dims) - 1; d >= 0; --d) t.shape.push_back(ne[d]);
  return t;
}

uint32_t read_alignment(const Metadata& md, Cursor& c) {
  const MetaValue* v = md.find("general.alignment");
  if (!v) return kGgufDefaultAlignment;
  const uint64_t* u = std::get_if<uint64_t>(&v->value);
  if (v->type != MetaType::U32 || !u)
    c.fail(std::string("general.alignment has type ") + meta_type_name(v->type) + ", expected u32");
  if (*u == 0 || (*u & (*u - 1)) != 0)
    c.fail("general.alignment " + std::to_string(*u) + " is not a power of two");
  return uint32_t(*u);
}

}  // namespace

bool has_gguf_magic(const MappedFile& file) {
  return file.size() >= 4 && std::memcmp(file.data(), "GGUF", 4) == 0;
}

ModelFile parse_gguf(std::shared_ptr<MappedFile> file) {
  check(file != nullptr, "parse_gguf: no file");
  GgufParser parser(*file);
  Cursor& c = parser.cursor();
  if (!has_gguf_magic(*file)) c.fail("not a GGUF file (bad magic)");
  c.read<uint32_t>({"magic"});
  uint32_t version = c.read<uint32_t>({"version"});
  if (version != 2 && version != 3) {
    uint32_t swapped = __builtin_bswap32(version);
    if (swapped >= 1 && swapped <= 3)
      c.fail("big-endian GGUF files are not supported (version " + std::to_string(swapped) + ")");
    if (version == 1) c.fail("GGUF version 1 is not supported (only versions 2 and 3)");
    c.fail("unsupported GGUF version " + std::to_string(version) + " (only versions 2 and 3)");
  }
  uint64_t n_tensors = c.read<uint64_t>({"tensor count"});
  uint64_t n_kv = c.read<uint64_t>({"metadata count"});
  // Minimal encodings: a kv is key length + type + one byte; a tensor info is 8+4+8+4+8 bytes.
  if (n_kv > c.remaining() / 13)
    c.fail("metadata count " + std::to_string(n_kv) + " is more than the file can hold");
  if (n_tensors > c.remaining() / 32)
    c.fail("tensor count " + std::to_string(n_tensors) + " is more than the file can hold");

  ModelFile mf;
  mf.format = FileFormat::Gguf;
  mf.path = file->path();
  mf.gguf_version = version;
  mf.file_bytes = file->size();
  for (uint64_t i = 0; i < n_kv; ++i) parser.read_kv(mf.metadata, i);
  const uint32_t alignment = read_alignment(mf.metadata, c);

  if (n_tensors > c.remaining() / 32)
    c.fail("tensor count " + std::to_string(n_tensors) + " is more than the file can hold");
  std::vector<RawTensorInfo> infos;
  infos.reserve(size_t(n_tensors));
  std::unordered_set<std::string> names;
  names.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    infos.push_back(read_tensor_info(c, i));
    if (!names.insert(infos.back().name).second) c.fail("duplicate tensor name '" + infos.back().name + "'");
  }

  const uint64_t data_start = (uint64_t(c.pos()) + alignment - 1) / alignment * alignment;
  const uint64_t size = file->size();
  if (!infos.empty() && data_start > size)
    c.fail("data section (at byte " + std::to_string(data_start) + ") starts past the end of the file");
  mf.tensors.reserve(infos.size());
  for (auto& t : infos) {
    const std::string who = "tensor '" + t.name + "'";
    if (t.offset % alignment != 0)
      c.fail(who + " data offset " + std::to_string(t.offset) + " is not aligned to " + std::to_string(alignment));
    const uint64_t room = size - data_start;
    if (t.offset > room || t.nbytes > room - t.offset)
      c.fail(who + " data (offset " + std::to_string(t.offset) + ", " + std::to_string(t.nbytes) +
             " bytes) lies past the end of the file");
    TensorEntry e;
    e.file_offset = data_start + t.offset;
    e.nbytes = t.nbytes;
    // The mapping is read-only; Tensor's pointer is non-const only because views are shared with outputs.
    void* data = const_cast<uint8_t*>(file->data()) + e.file_offset;
    e.tensor = Tensor::view(data, t.type, t.shape);
    e.name = std::move(t.name);
    mf.tensors.push_back(std::move(e));
  }
  mf.mappings.push_back(std::move(file));
  return mf;
}

ModelFile open_gguf(const std::filesystem::path& path) { return parse_gguf(MappedFile::open(path)); }

}  // namespace llmr
