#pragma once
// Runtime values of the Jinja interpreter, with @huggingface/jinja's types and JavaScript semantics
// (numbers are doubles; arrays, objects and namespaces are shared references).
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace llmr::jinja {

// Errors raised without knowing the template line; the interpreter adds the line of the node at fault.
struct Unlocated : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Tuple is a kind of array and KwArgs a kind of object (subclasses in the reference implementation).
enum class Kind : uint8_t { Undefined, Null, Bool, Int, Float, String, Array, Tuple, Object, KwArgs, Namespace, Function };

struct Value;
struct Env;
using Array = std::vector<Value>;

// Insertion-ordered string-keyed map (a JS Map).
struct Object {
  std::vector<std::pair<std::string, Value>> entries;
  const Value* find(const std::string& key) const;
  void set(const std::string& key, Value v);
};

// A callable: positional arguments (keyword arguments arrive as a trailing KwArgs value) and the
// caller's scope (macros see their call site's variables, as in the reference implementation).
using Function = std::function<Value(std::vector<Value>& args, const std::shared_ptr<Env>& scope)>;

struct Value {
  Kind kind = Kind::Undefined;
  bool boolean = false;
  double number = 0;
  std::string str;
  std::shared_ptr<Array> array;
  std::shared_ptr<Object> object;
  std::shared_ptr<Function> fn;

  static Value undefined() { return Value(); }
  static Value null() { return make(Kind::Null); }
  static Value from_bool(bool b) {
    Value v = make(Kind::Bool);
    v.boolean = b;
    return v;
  }
  static Value integer(double d) {
    Value v = make(Kind::Int);
    v.number = d;
    return v;
  }
  static Value floating(double d) {
    Value v = make(Kind::Float);
    v.number = d;
    return v;
  }
  static Value string(std::string s) {
    Value v = make(Kind::String);
    v.str = std::move(s);
    return v;
  }
  static Value list(Array items, Kind k = Kind::Array) {
    Value v = make(k);
    v.array = std::make_shared<Array>(std::move(items));
    return v;
  }
  static Value map(Object o, Kind k = Kind::Object) {
    Value v = make(k);
    v.object = std::make_shared<Object>(std::move(o));
    return v;
  }
  static Value function(Function f) {
    Value v = make(Kind::Function);
    v.fn = std::make_shared<Function>(std::move(f));
    return v;
  }

  bool is_undefined() const { return kind == Kind::Undefined; }
  bool is_null() const { return kind == Kind::Null; }
  bool is_number() const { return kind == Kind::Int || kind == Kind::Float; }
  bool is_array() const { return kind == Kind::Array || kind == Kind::Tuple; }      // instanceof ArrayValue
  bool is_object() const { return kind == Kind::Object || kind == Kind::KwArgs; }    // instanceof ObjectValue
  bool is_container() const { return is_object() || kind == Kind::Namespace; }       // has attributes
  bool truthy() const;

 private:
  static Value make(Kind k) {
    Value v;
    v.kind = k;
    return v;
  }
};

const char* kind_name(Kind k);  // the reference implementation's type name, for error messages

// Converts input data as JSON.parse + the reference's convertToRuntimeValues would see it: integral
// numbers become integers, object keys that are array indices come first in ascending order.
Value from_json(const nlohmann::ordered_json& j);

// What {{ v }} prints (RuntimeValue.toString()).
std::string display(const Value& v);
// String(v.value): what '~' and string '+' concatenate (floats lose their ".0", arrays join with ",").
std::string raw_string(const Value& v);

struct JsonOptions {
  int indent = 0;  // 0: single line
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_separators = false;
  std::string item_separator, key_separator;
};
// The tojson filter. undefined_as_null=false renders undefined as "undefined" (display of arrays).
std::string to_json(const Value& v, const JsonOptions& opt, int depth = 0, bool undefined_as_null = true);

// JavaScript's == and === on the underlying values.
bool loose_equals(const Value& a, const Value& b);
bool strict_equals(const Value& a, const Value& b);

}  // namespace llmr::jinja
