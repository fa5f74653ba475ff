#include "format/metadata.h"

#include <limits>

#include "core/error.h"

namespace llmr {
namespace {

const char* type_name(MetaType t) {
  switch (t) {
    case MetaType::U8: return "u8";
    case MetaType::I8: return "i8";
    case MetaType::U16: return "u16";
    case MetaType::I16: return "i16";
    case MetaType::U32: return "u32";
    case MetaType::I32: return "i32";
    case MetaType::F32: return "f32";
    case MetaType::BOOL: return "bool";
    case MetaType::STRING: return "string";
    case MetaType::ARRAY: return "array";
    case MetaType::U64: return "u64";
    case MetaType::I64: return "i64";
    case MetaType::F64: return "f64";
  }
  return "unknown";
}

bool is_integer(MetaType t) {
  switch (t) {
    case MetaType::U8: case MetaType::I8: case MetaType::U16: case MetaType::I16:
    case MetaType::U32: case MetaType::I32: case MetaType::U64: case MetaType::I64:
      return true;
    default:
      return false;
  }
}

[[noreturn]] void wrong_type(const std::string& key, const MetaValue& v, const char* wanted) {
  throw Error("metadata key '" + key + "' has type " + type_name(v.type) + ", expected " + wanted);
}

// The value as int64 when it holds an integer; throws naming the key otherwise.
int64_t as_int(const std::string& key, const MetaValue& v) {
  if (!is_integer(v.type)) wrong_type(key, v, "an integer");
  if (const auto* s = std::get_if<int64_t>(&v.value)) return *s;
  if (const auto* u = std::get_if<uint64_t>(&v.value)) {
    check(*u <= uint64_t(std::numeric_limits<int64_t>::max()),
          "metadata key '" + key + "' value " + std::to_string(*u) + " does not fit in int64");
    return int64_t(*u);
  }
  wrong_type(key, v, "an integer");
}

double as_float(const std::string& key, const MetaValue& v) {
  if (v.type == MetaType::F32 || v.type == MetaType::F64) {
    if (const auto* d = std::get_if<double>(&v.value)) return *d;
  } else if (is_integer(v.type)) {
    if (const auto* s = std::get_if<int64_t>(&v.value)) return double(*s);
    if (const auto* u = std::get_if<uint64_t>(&v.value)) return double(*u);
  }
  wrong_type(key, v, "a number");
}

const std::string& as_string(const std::string& key, const MetaValue& v) {
  const auto* s = std::get_if<std::string>(&v.value);
  if (v.type != MetaType::STRING || !s) wrong_type(key, v, "string");
  return *s;
}

}  // namespace

const char* meta_type_name(MetaType t) { return type_name(t); }

void Metadata::set(const std::string& key, MetaValue value) {
  auto it = index_.find(key);
  if (it != index_.end()) {
    entries_[it->second].second = std::move(value);  // replace in place, keeping file order
    return;
  }
  index_.emplace(key, entries_.size());
  entries_.emplace_back(key, std::move(value));
}

const MetaValue* Metadata::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &entries_[it->second].second;
}

namespace {
const MetaValue& require(const Metadata& m, const std::string& key) {
  const MetaValue* v = m.find(key);
  check(v != nullptr, "metadata key '" + key + "' is missing");
  return *v;
}
}  // namespace

int64_t Metadata::get_int(const std::string& key) const { return as_int(key, require(*this, key)); }

double Metadata::get_float(const std::string& key) const {
  return as_float(key, require(*this, key));
}

bool Metadata::get_bool(const std::string& key) const {
  const MetaValue& v = require(*this, key);
  const auto* b = std::get_if<bool>(&v.value);
  if (v.type != MetaType::BOOL || !b) wrong_type(key, v, "bool");
  return *b;
}

const std::string& Metadata::get_string(const std::string& key) const {
  return as_string(key, require(*this, key));
}

const MetaArray& Metadata::get_array(const std::string& key) const {
  const MetaValue& v = require(*this, key);
  const auto* a = std::get_if<MetaArray>(&v.value);
  if (v.type != MetaType::ARRAY || !a) wrong_type(key, v, "array");
  return *a;
}

std::vector<std::string> Metadata::get_string_array(const std::string& key) const {
  const MetaArray& a = get_array(key);
  check(a.element_type == MetaType::STRING, "metadata key '" + key + "' is an array of " +
                                                type_name(a.element_type) + ", expected array of string");
  std::vector<std::string> out;
  out.reserve(a.values.size());
  for (const auto& v : a.values) out.push_back(as_string(key, v));
  return out;
}

std::optional<int64_t> Metadata::int_or(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) return std::nullopt;
  return as_int(key, *v);
}

std::optional<double> Metadata::float_or(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) return std::nullopt;
  return as_float(key, *v);
}

std::optional<std::string> Metadata::string_or(const std::string& key) const {
  const MetaValue* v = find(key);
  if (!v) return std::nullopt;
  return as_string(key, *v);
}

}  // namespace llmr
