// Runtime values: conversion from JSON, printing, JSON serialization and JS equality.
#include "chat/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "chat/js_text.h"
#include "core/error.h"

namespace llmr::jinja {
namespace {

constexpr int kMaxValueDepth = 256;  // nesting bound for printing/converting (namespaces can be cyclic)

void check_depth(int depth) {
  if (depth > kMaxValueDepth) throw Unlocated("value nests deeper than " + std::to_string(kMaxValueDepth) + " levels");
}

// A canonical array index ("0", "17"; no sign or leading zeros, below 2^32-1), which JS orders first.
bool is_array_index(const std::string& k) {
  if (k.empty() || k.size() > 10) return false;
  if (k.size() > 1 && k[0] == '0') return false;
  for (char c : k)
    if (c < '0' || c > '9') return false;
  return std::stoull(k) < 4294967295ull;
}

std::string float_display(double v) {
  if (v == 0 && std::signbit(v)) return "-0.0";
  if (std::isfinite(v) && std::fmod(v, 1.0) == 0 && std::fabs(v) < 1e21) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.1f", v);
    return buf;
  }
  return js_number_to_string(v);
}

// Approximates String.prototype.localeCompare for keys: punctuation < digits < letters,
// letters compared case-insensitively first, then lowercase before uppercase.
int collation_class(unsigned char c) {
  if (c >= '0' && c <= '9') return 1;
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 2;
  return c >= 0x80 ? 3 : 0;
}
bool locale_less(const std::string& a, const std::string& b) {
  size_t n = std::min(a.size(), b.size());
  for (size_t i = 0; i < n; ++i) {
    unsigned char x = a[i], y = b[i];
    int cx = collation_class(x), cy = collation_class(y);
    if (cx != cy) return cx < cy;
    unsigned char lx = (x >= 'A' && x <= 'Z') ? x + 32 : x, ly = (y >= 'A' && y <= 'Z') ? y + 32 : y;
    if (lx != ly) return lx < ly;
  }
  if (a.size() != b.size()) return a.size() < b.size();
  for (size_t i = 0; i < n; ++i)
    if (a[i] != b[i]) return a[i] > b[i];  // lowercase (larger byte) sorts first
  return false;
}

Value convert(const nlohmann::ordered_json& j, int depth) {
  check_depth(depth);
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value::null();
    case nlohmann::ordered_json::value_t::boolean: return Value::from_bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value::integer(static_cast<double>(j.get<int64_t>()));
    case nlohmann::ordered_json::value_t::number_unsigned: return Value::integer(static_cast<double>(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: {
      double d = j.get<double>();
      return std::isfinite(d) && std::trunc(d) == d ? Value::integer(d) : Value::floating(d);
    }
    case nlohmann::ordered_json::value_t::string: return Value::string(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array items;
      items.reserve(j.size());
      for (const auto& e : j) items.push_back(convert(e, depth + 1));
      return Value::list(std::move(items));
    }
    case nlohmann::ordered_json::value_t::object: {
      Object o;
      std::vector<std::pair<double, std::string>> indices;
      for (auto it = j.begin(); it != j.end(); ++it)
        if (is_array_index(it.key())) indices.emplace_back(std::stod(it.key()), it.key());
      std::sort(indices.begin(), indices.end());
      for (const auto& [n, k] : indices) o.set(k, convert(j.at(k), depth + 1));
      for (auto it = j.begin(); it != j.end(); ++it)
        if (!is_array_index(it.key())) o.set(it.key(), convert(it.value(), depth + 1));
      return Value::map(std::move(o));
    }
    default: throw Unlocated("unsupported JSON value in template input (binary or discarded)");
  }
}

std::string raw_string_at(const Value& v, int depth);

std::string display_at(const Value& v, int depth) {
  check_depth(depth);
  switch (v.kind) {
    case Kind::Undefined: return "undefined";
    case Kind::Null: return "null";
    case Kind::Bool: return v.boolean ? "true" : "false";
    case Kind::Int: return js_number_to_string(v.number);
    case Kind::Float: return float_display(v.number);
    case Kind::String: return v.str;
    case Kind::Array:
    case Kind::Object:
    case Kind::Namespace: return to_json(v, JsonOptions{}, 0, false);
    case Kind::Tuple: throw Unlocated("cannot convert a tuple to JSON for printing");
    case Kind::KwArgs: throw Unlocated("cannot convert keyword arguments to JSON for printing");
    case Kind::Function: throw Unlocated("cannot print a function or macro (call it instead)");
  }
  return "";
}

std::string raw_string_at(const Value& v, int depth) {
  check_depth(depth);
  switch (v.kind) {
    case Kind::Int:
    case Kind::Float: return js_number_to_string(v.number);
    case Kind::Array:
    case Kind::Tuple: {
      std::string out;
      for (size_t i = 0; i < v.array->size(); ++i) {
        if (i) out += ',';
        out += display_at((*v.array)[i], depth + 1);
      }
      return out;
    }
    case Kind::Object:
    case Kind::KwArgs:
    case Kind::Namespace: return "[object Map]";
    default: return display_at(v, depth);
  }
}

// JS == works on primitives; objects convert through their string form.
enum class JsType { Undefined, Null, Boolean, Number, String, Object };
JsType js_type(const Value& v) {
  switch (v.kind) {
    case Kind::Undefined: return JsType::Undefined;
    case Kind::Null: return JsType::Null;
    case Kind::Bool: return JsType::Boolean;
    case Kind::Int:
    case Kind::Float: return JsType::Number;
    case Kind::String: return JsType::String;
    default: return JsType::Object;
  }
}
const void* identity(const Value& v) {
  if (v.array) return v.array.get();
  if (v.object) return v.object.get();
  return v.fn.get();
}

}  // namespace

const Value* Object::find(const std::string& key) const {
  for (const auto& [k, v] : entries)
    if (k == key) return &v;
  return nullptr;
}

void Object::set(const std::string& key, Value v) {
  for (auto& [k, old] : entries)
    if (k == key) {
      old = std::move(v);
      return;
    }
  entries.emplace_back(key, std::move(v));
}

bool Value::truthy() const {
  switch (kind) {
    case Kind::Undefined:
    case Kind::Null: return false;
    case Kind::Bool: return boolean;
    case Kind::Int:
    case Kind::Float: return number != 0 && !std::isnan(number);
    case Kind::String: return !str.empty();
    case Kind::Array:
    case Kind::Tuple: return !array->empty();
    case Kind::Object:
    case Kind::KwArgs: return !object->entries.empty();
    case Kind::Namespace:
    case Kind::Function: return true;
  }
  return false;
}

const char* kind_name(Kind k) {
  switch (k) {
    case Kind::Undefined: return "UndefinedValue";
    case Kind::Null: return "NullValue";
    case Kind::Bool: return "BooleanValue";
    case Kind::Int: return "IntegerValue";
    case Kind::Float: return "FloatValue";
    case Kind::String: return "StringValue";
    case Kind::Array: return "ArrayValue";
    case Kind::Tuple: return "TupleValue";
    case Kind::Object: return "ObjectValue";
    case Kind::KwArgs: return "KeywordArgumentsValue";
    case Kind::Namespace: return "NamespaceValue";
    case Kind::Function: return "FunctionValue";
  }
  return "?";
}

Value from_json(const nlohmann::ordered_json& j) { return convert(j, 0); }

std::string display(const Value& v) { return display_at(v, 0); }
std::string raw_string(const Value& v) { return raw_string_at(v, 0); }

std::string to_json(const Value& v, const JsonOptions& opt, int depth, bool undefined_as_null) {
  check_depth(depth);
  std::string item_sep = opt.has_separators ? opt.item_separator : opt.indent ? "," : ", ";
  std::string key_sep = opt.has_separators ? opt.key_separator : ": ";
  switch (v.kind) {
    case Kind::Null: return "null";
    case Kind::Undefined: return undefined_as_null ? "null" : "undefined";
    case Kind::Int:
    case Kind::Float: return std::isfinite(v.number) ? js_number_to_string(v.number) : "null";
    case Kind::Bool: return v.boolean ? "true" : "false";
    case Kind::String: return json_quote(v.str, opt.ensure_ascii);
    case Kind::Array:
    case Kind::Object:
    case Kind::Namespace: {
      std::string unit(opt.indent > 0 ? opt.indent : 0, ' ');
      std::string base = "\n";
      for (int i = 0; i < depth; ++i) base += unit;
      std::string child = base + unit;
      std::string out;
      if (v.kind == Kind::Array) {
        const Array& a = *v.array;
        bool pretty = opt.indent && !a.empty();
        out = pretty ? "[" + child : "[";
        for (size_t i = 0; i < a.size(); ++i) {
          if (i) out += pretty ? item_sep + child : item_sep;
          out += to_json(a[i], opt, depth + 1, undefined_as_null);
        }
        out += pretty ? base + "]" : "]";
        return out;
      }
      std::vector<const std::pair<std::string, Value>*> entries;
      for (const auto& e : v.object->entries) entries.push_back(&e);
      if (opt.sort_keys)
        std::stable_sort(entries.begin(), entries.end(), [](auto* x, auto* y) { return locale_less(x->first, y->first); });
      out = "{";
      for (size_t i = 0; i < entries.size(); ++i) {
        if (i) out += item_sep;
        if (opt.indent) out += child;
        out += json_quote(entries[i]->first, opt.ensure_ascii) + key_sep;
        out += to_json(entries[i]->second, opt, depth + 1, undefined_as_null);
      }
      out += opt.indent && !entries.empty() ? base + "}" : "}";
      return out;
    }
    default: throw Unlocated(std::string("cannot convert ") + kind_name(v.kind) + " to JSON");
  }
}

bool strict_equals(const Value& a, const Value& b) {
  JsType ta = js_type(a), tb = js_type(b);
  if (ta != tb) return false;
  switch (ta) {
    case JsType::Undefined:
    case JsType::Null: return true;
    case JsType::Boolean: return a.boolean == b.boolean;
    case JsType::Number: return a.number == b.number;
    case JsType::String: return a.str == b.str;
    case JsType::Object: return identity(a) == identity(b);
  }
  return false;
}

bool loose_equals(const Value& a, const Value& b) {
  JsType ta = js_type(a), tb = js_type(b);
  if (ta == tb) return strict_equals(a, b);
  auto nullish = [](JsType t) { return t == JsType::Undefined || t == JsType::Null; };
  if (nullish(ta) || nullish(tb)) return nullish(ta) && nullish(tb);
  if (ta == JsType::Boolean) return loose_equals(Value::integer(a.boolean ? 1 : 0), b);
  if (tb == JsType::Boolean) return loose_equals(a, Value::integer(b.boolean ? 1 : 0));
  if (ta == JsType::Number && tb == JsType::String) return a.number == js_to_number(b.str);
  if (ta == JsType::String && tb == JsType::Number) return js_to_number(a.str) == b.number;
  if (ta == JsType::Object) {
    if (a.kind == Kind::Function) return false;
    return loose_equals(Value::string(raw_string(a)), b);
  }
  if (tb == JsType::Object) {
    if (b.kind == Kind::Function) return false;
    return loose_equals(a, Value::string(raw_string(b)));
  }
  return false;
}

}  // namespace llmr::jinja
