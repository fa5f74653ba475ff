#pragma once
// Typed key/value metadata as GGUF stores it: scalars, strings and (nested) arrays.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace llmr {

// GGUF's value type numbers (gguf_type).
enum class MetaType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
  STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};

struct MetaValue;
struct MetaArray {
  MetaType element_type = MetaType::U8;
  std::vector<MetaValue> values;
};

struct MetaValue {
  MetaType type = MetaType::U8;
  // Integers of every width live in int64/uint64, floats in double; type says what the file held.
  std::variant<int64_t, uint64_t, double, bool, std::string, MetaArray> value;

  static MetaValue u32(uint32_t v) { return {MetaType::U32, uint64_t(v)}; }
  static MetaValue i32(int32_t v) { return {MetaType::I32, int64_t(v)}; }
  static MetaValue u64(uint64_t v) { return {MetaType::U64, v}; }
  static MetaValue f32(float v) { return {MetaType::F32, double(v)}; }
  static MetaValue boolean(bool v) { return {MetaType::BOOL, v}; }
  static MetaValue str(std::string v) { return {MetaType::STRING, std::move(v)}; }
  static MetaValue array(MetaType element_type, std::vector<MetaValue> values) {
    return {MetaType::ARRAY, MetaArray{element_type, std::move(values)}};
  }
};

// "u32", "string", ... for messages.
const char* meta_type_name(MetaType t);

// Ordered as written in the file; lookups by key with typed, checked accessors.
class Metadata {
 public:
  // Adds the key, or replaces its value in place when it exists already.
  void set(const std::string& key, MetaValue value);
  bool has(const std::string& key) const { return index_.count(key) != 0; }
  const MetaValue* find(const std::string& key) const;
  const std::vector<std::pair<std::string, MetaValue>>& entries() const { return entries_; }

  // Typed getters: throw Error naming the key when it is missing or of an incompatible type.
  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  const std::string& get_string(const std::string& key) const;
  const MetaArray& get_array(const std::string& key) const;
  std::vector<std::string> get_string_array(const std::string& key) const;

  // Absent key -> nullopt; present with an incompatible type -> Error naming the key.
  std::optional<int64_t> int_or(const std::string& key) const;
  std::optional<double> float_or(const std::string& key) const;
  std::optional<std::string> string_or(const std::string& key) const;

 private:
  std::vector<std::pair<std::string, MetaValue>> entries_;
  std::map<std::string, size_t> index_;
};

}  // namespace llmr
