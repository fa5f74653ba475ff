#include "format/gguf_writer.h"

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <unordered_set>

#include "core/error.h"
#include "format/gguf_reader.h"

namespace llmr {
namespace {

// Buffered little-endian output to a FILE; counts bytes for alignment padding.
class Out {
 public:
  explicit Out(const std::filesystem::path& path) : path_(path), f_(std::fopen(path.c_str(), "wb")) {
    check(f_ != nullptr, path.string() + ": cannot open for writing: " + std::strerror(errno));
    std::setvbuf(f_, nullptr, _IOFBF, 1 << 20);
  }
  ~Out() {
    if (f_) std::fclose(f_);
  }
  void bytes(const void* p, size_t n) {
    if (n == 0) return;
    check(std::fwrite(p, 1, n, f_) == n, path_.string() + ": write failed: " + std::strerror(errno));
    written_ += n;
  }
  template <typename T>
  void put(T v) {
    bytes(&v, sizeof v);
  }
  void str(const std::string& s) {
    put<uint64_t>(s.size());
    bytes(s.data(), s.size());
  }
  void pad(uint64_t alignment) {
    static const char zeros[256] = {};
    while (written_ % alignment != 0) {
      size_t n = size_t(std::min<uint64_t>(alignment - written_ % alignment, sizeof zeros));
      bytes(zeros, n);
    }
  }
  void close() {
    int rc = std::fclose(f_);
    f_ = nullptr;
    check(rc == 0, path_.string() + ": write failed on close: " + std::strerror(errno));
  }
  uint64_t written() const { return written_; }

 private:
  std::filesystem::path path_;
  FILE* f_;
  uint64_t written_ = 0;
};

[[noreturn]] void bad_value(const std::string& key, const std::string& why) {
  throw Error("gguf writer: metadata key '" + key + "' " + why);
}

// The integer held by v, range-checked against [lo, hi].
template <typename T>
T integer(const std::string& key, const MetaValue& v) {
  if (const auto* s = std::get_if<int64_t>(&v.value)) {
    if (*s < int64_t(std::numeric_limits<T>::min()) ||
        (*s > 0 && uint64_t(*s) > uint64_t(std::numeric_limits<T>::max())))
      bad_value(key, "value " + std::to_string(*s) + " does not fit in " + meta_type_name(v.type));
    return T(*s);
  }
  if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    if (*u > uint64_t(std::numeric_limits<T>::max()))
      bad_value(key, "value " + std::to_string(*u) + " does not fit in " + meta_type_name(v.type));
    return T(*u);
  }
  bad_value(key, std::string("declared ") + meta_type_name(v.type) + " but does not hold an integer");
}

double floating(const std::string& key, const MetaValue& v) {
  if (const auto* d = std::get_if<double>(&v.value)) return *d;
  bad_value(key, std::string("declared ") + meta_type_name(v.type) + " but does not hold a number");
}

void write_value(Out& out, const std::string& key, const MetaValue& v, int depth);

void write_array(Out& out, const std::string& key, const MetaArray& a, int depth) {
  if (depth > kGgufMaxArrayDepth) bad_value(key, "nests arrays too deeply");
  out.put<uint32_t>(uint32_t(a.element_type));
  out.put<uint64_t>(a.values.size());
  for (const auto& e : a.values) {
    if (e.type != a.element_type)
      bad_value(key, std::string("array of ") + meta_type_name(a.element_type) + " holds a " +
                         meta_type_name(e.type));
    write_value(out, key, e, depth);
  }
}

// The value's payload (its type tag is written by the caller: kv or array header).
void write_value(Out& out, const std::string& key, const MetaValue& v, int depth) {
  switch (v.type) {
    case MetaType::U8: out.put(integer<uint8_t>(key, v)); return;
    case MetaType::I8: out.put(integer<int8_t>(key, v)); return;
    case MetaType::U16: out.put(integer<uint16_t>(key, v)); return;
    case MetaType::I16: out.put(integer<int16_t>(key, v)); return;
    case MetaType::U32: out.put(integer<uint32_t>(key, v)); return;
    case MetaType::I32: out.put(integer<int32_t>(key, v)); return;
    case MetaType::U64: out.put(integer<uint64_t>(key, v)); return;
    case MetaType::I64: out.put(integer<int64_t>(key, v)); return;
    case MetaType::F32: out.put(float(floating(key, v))); return;
    case MetaType::F64: out.put(floating(key, v)); return;
    case MetaType::BOOL: {
      const auto* b = std::get_if<bool>(&v.value);
      if (!b) bad_value(key, "declared bool but does not hold one");
      out.put<uint8_t>(*b ? 1 : 0);
      return;
    }
    case MetaType::STRING: {
      const auto* s = std::get_if<std::string>(&v.value);
      if (!s) bad_value(key, "declared string but does not hold one");
      out.str(*s);
      return;
    }
    case MetaType::ARRAY: {
      const auto* a = std::get_if<MetaArray>(&v.value);
      if (!a) bad_value(key, "declared array but does not hold one");
      write_array(out, key, *a, depth + 1);
      return;
    }
  }
  bad_value(key, "has unknown type " + std::to_string(uint32_t(v.type)));
}

uint64_t padded(uint64_t n, uint64_t alignment) { return (n + alignment - 1) / alignment * alignment; }

}  // namespace

void GgufWriter::set_metadata(const Metadata& md) {
  for (const auto& [k, v] : md.entries()) metadata_.set(k, v);
}

void GgufWriter::set_alignment(uint32_t alignment) {
  check(alignment != 0 && (alignment & (alignment - 1)) == 0,
        "gguf writer: alignment " + std::to_string(alignment) + " is not a power of two");
  metadata_.set("general.alignment", MetaValue::u32(alignment));
}

uint32_t GgufWriter::alignment() const {
  const MetaValue* v = metadata_.find("general.alignment");
  if (!v) return kGgufDefaultAlignment;
  const auto* u = std::get_if<uint64_t>(&v->value);
  check(v->type == MetaType::U32 && u && *u != 0 && (*u & (*u - 1)) == 0 && *u <= UINT32_MAX,
        "gguf writer: general.alignment must be a u32 power of two");
  return uint32_t(*u);
}

size_t GgufWriter::checked_size(const std::string& name, DType type, const std::vector<int64_t>& shape) const {
  const std::string who = "gguf writer: tensor '" + name + "'";
  check(!shape.empty() && shape.size() <= 4, who + " must have 1 to 4 dimensions");
  for (const auto& t : tensors_) check(t.name != name, "gguf writer: duplicate tensor name '" + name + "'");
  check(!is_internal(type), who + " has the backend-internal type " + std::string(info(type).name) +
                               ", which GGUF files cannot hold");
  check(shape.back() >= 0 && shape.back() % info(type).block_elems == 0,
        who + ": rows of " + std::to_string(shape.back()) + " elements are not whole " + info(type).name + " blocks");
  size_t expected = row_bytes(type, shape.back());
  for (size_t i = 0; i + 1 < shape.size(); ++i) {
    check(shape[i] >= 0, who + " has a negative dimension");
    check(shape[i] == 0 || expected <= std::numeric_limits<size_t>::max() / size_t(shape[i]),
          who + " byte size overflows");
    expected *= size_t(shape[i]);
  }
  return expected;
}

void GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                            const void* data, size_t nbytes) {
  const std::string who = "gguf writer: tensor '" + name + "'";
  const size_t expected = checked_size(name, type, shape);
  check(nbytes == expected, who + " has " + std::to_string(nbytes) + " bytes of data, its shape needs " +
                                std::to_string(expected));
  check(data != nullptr || nbytes == 0, who + " has no data");
  tensors_.push_back({name, type, shape, data, nbytes, nullptr});
}

void GgufWriter::add_tensor(const std::string& name, DType type, const std::vector<int64_t>& shape,
                            TensorFill fill) {
  check(bool(fill), "gguf writer: tensor '" + name + "' has no fill function");
  const size_t nbytes = checked_size(name, type, shape);
  tensors_.push_back({name, type, shape, nullptr, nbytes, std::move(fill)});
}

void GgufWriter::write(const std::filesystem::path& path) const {
  const uint32_t align = alignment();
  std::filesystem::path tmp = path;
  tmp += ".tmp";
  try {
    Out out(tmp);
    out.bytes("GGUF", 4);
    out.put<uint32_t>(3);
    out.put<uint64_t>(tensors_.size());
    out.put<uint64_t>(metadata_.entries().size());
    for (const auto& [key, v] : metadata_.entries()) {
      out.str(key);
      out.put<uint32_t>(uint32_t(v.type));
      write_value(out, key, v, 0);
    }
    uint64_t offset = 0;
    for (const auto& t : tensors_) {
      out.str(t.name);
      out.put<uint32_t>(uint32_t(t.shape.size()));
      for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) out.put<int64_t>(*it);  // ggml's ne[]
      out.put<uint32_t>(uint32_t(t.type));
      out.put<uint64_t>(offset);
      offset += padded(t.nbytes, align);
    }
    out.pad(align);
    std::vector<unsigned char> produced;  // reused by every tensor made at write time
    for (const auto& t : tensors_) {
      if (t.fill) {
        produced.resize(t.nbytes);
        t.fill(produced.data());
        out.bytes(produced.data(), t.nbytes);
      } else {
        out.bytes(t.data, t.nbytes);
      }
      out.pad(align);
    }
    out.close();
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);  // no half-written file left behind
    throw;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  check(!ec, path.string() + ": cannot rename temporary file into place: " + ec.message());
}

}  // namespace llmr
