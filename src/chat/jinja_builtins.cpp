// Globals (namespace, raise_exception, range, strftime_now), methods of strings, lists and dicts,
// and the tests of `is`, as @huggingface/jinja provides them.
#include <cmath>
#include <ctime>

#include "chat/jinja_interpreter.h"
#include "chat/js_text.h"
#include "core/error.h"

namespace llmr::jinja {
namespace {

constexpr double kMaxRange = 1 << 20;  // range() longer than this is refused (memory bound)

[[noreturn]] void unlocated(const std::string& msg) { throw Unlocated(msg); }

bool is_word(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

// /\b\w/g -> upper: the first word character after a non-word character.
std::string title_case(std::string s) {
  for (size_t i = 0; i < s.size(); ++i)
    if (is_word(s[i]) && (i == 0 || !is_word(s[i - 1])) && s[i] >= 'a' && s[i] <= 'z') s[i] = static_cast<char>(s[i] - 32);
  return s;
}

// Python's str.split as the reference implements it.
Array split(const std::string& s, const Value& sep, const Value& maxsplit) {
  Array out;
  double max = maxsplit.number;
  if (sep.is_null()) {
    std::string text = js_trim_start(s);
    size_t i = 0;
    while (i < text.size()) {
      size_t n;
      while ((n = js_space_at(text, i)) > 0) i += n;
      if (i >= text.size()) break;
      size_t start = i;
      while (i < text.size() && js_space_at(text, i) == 0) ++i;
      if (max != -1 && static_cast<double>(out.size()) >= max) {
        out.push_back(Value::string(text.substr(start)));
        break;
      }
      out.push_back(Value::string(text.substr(start, i - start)));
    }
    return out;
  }
  if (sep.str.empty()) unlocated("split(): empty separator");
  std::vector<std::string> parts;
  size_t pos = 0, hit;
  while ((hit = s.find(sep.str, pos)) != std::string::npos) {
    parts.push_back(s.substr(pos, hit - pos));
    pos = hit + sep.str.size();
  }
  parts.push_back(s.substr(pos));
  if (max != -1 && static_cast<double>(parts.size()) > max) {
    size_t keep = max < 0 ? 0 : static_cast<size_t>(max);
    std::string rest;
    for (size_t i = keep; i < parts.size(); ++i) rest += (i > keep ? sep.str : "") + parts[i];
    parts.resize(keep);
    parts.push_back(rest);
  }
  for (auto& p : parts) out.push_back(Value::string(std::move(p)));
  return out;
}

// Python's str.replace(old, new, count) as the reference implements it (empty old: between code points).
std::string replace_text(const std::string& s, const std::string& from, const std::string& to, const Value& count) {
  if (count.kind == Kind::Int && count.number == 0) return s;
  double remaining = (count.is_null() || count.number < 0) ? INFINITY : count.number;
  std::string out;
  if (from.empty()) {
    std::vector<std::string> cps = code_points(s);
    for (size_t i = 0; i <= cps.size(); ++i) {
      if (remaining > 0) {
        out += to;
        --remaining;
      }
      if (i < cps.size()) out += cps[i];
    }
    return out;
  }
  size_t pos = 0, hit;
  while (remaining > 0 && (hit = s.find(from, pos)) != std::string::npos) {
    out.append(s, pos, hit - pos);
    out += to;
    pos = hit + from.size();
    --remaining;
  }
  out.append(s, pos);
  return out;
}

bool starts_or_ends(const std::string& s, const std::vector<Value>& args, bool ends, const char* name) {
  if (args.empty()) unlocated(std::string(name) + "() requires at least one argument");
  auto test = [&](const std::string& p) {
    if (p.size() > s.size()) return false;
    return ends ? s.compare(s.size() - p.size(), p.size(), p) == 0 : s.compare(0, p.size(), p) == 0;
  };
  const Value& pattern = args[0];
  if (pattern.kind == Kind::String) return test(pattern.str);
  if (pattern.is_array()) {
    for (const Value& item : *pattern.array) {
      if (item.kind != Kind::String) unlocated(std::string(name) + "() tuple elements must be strings");
      if (test(item.str)) return true;
    }
    return false;
  }
  unlocated(std::string(name) + "() argument must be a string or tuple of strings");
}

Value string_method(Interpreter& in, const std::string& s, const std::string& name) {
  if (name == "length") return Value::integer(static_cast<double>(utf16_length(s)));
  auto method = [&in, s](std::string (*f)(const std::string&)) {
    return Value::function([&in, s, f](std::vector<Value>&, const std::shared_ptr<Env>&) { return in.make_string(f(s)); });
  };
  if (name == "upper") return method(js_upper);
  if (name == "lower") return method(js_lower);
  // The reference ignores strip's argument and always strips whitespace.
  if (name == "strip") return method(js_trim);
  if (name == "lstrip") return method(js_trim_start);
  if (name == "rstrip") return method(js_trim_end);
  if (name == "title") return method([](const std::string& x) { return title_case(x); });
  if (name == "capitalize") return method(js_capitalize_first);
  if (name == "startswith" || name == "endswith") {
    bool ends = name == "endswith";
    return Value::function([s, ends](std::vector<Value>& args, const std::shared_ptr<Env>&) {
      return Value::from_bool(starts_or_ends(s, args, ends, ends ? "endswith" : "startswith"));
    });
  }
  if (name == "split")
    return Value::function([&in, s](std::vector<Value>& args, const std::shared_ptr<Env>&) {
      Value sep = args.size() > 0 ? args[0] : Value::null();
      if (sep.kind != Kind::String && !sep.is_null()) unlocated("split(): sep must be a string or none");
      Value maxsplit = args.size() > 1 ? args[1] : Value::integer(-1);
      if (maxsplit.kind != Kind::Int) unlocated("split(): maxsplit must be an integer");
      Array parts = split(s, sep, maxsplit);
      in.charge(s.size() + parts.size() * sizeof(Value));
      return Value::list(std::move(parts));
    });
  if (name == "replace")
    return Value::function([&in, s](std::vector<Value>& args, const std::shared_ptr<Env>&) {
      if (args.size() < 2) unlocated("replace() requires at least two arguments");
      if (args[0].kind != Kind::String || args[1].kind != Kind::String) unlocated("replace() arguments must be strings");
      Value count = Value::null();
      if (args.size() > 2) {
        if (args[2].kind == Kind::KwArgs) {
          const Value* c = args[2].object->find("count");
          count = c ? *c : Value::null();
        } else {
          count = args[2];
        }
      }
      if (count.kind != Kind::Int && !count.is_null()) unlocated("replace() count must be an integer or none");
      return in.make_string(replace_text(s, args[0].str, args[1].str, count));
    });
  return Value::undefined();
}

Value items_of(const Object& o) {
  Array out;
  for (const auto& [k, v] : o.entries) out.push_back(Value::list({Value::string(k), v}));
  return Value::list(std::move(out));
}

Value object_method(Interpreter& in, const Value& self, const std::string& name) {
  std::shared_ptr<Object> o = self.object;
  if (name == "get")
    return Value::function([o](std::vector<Value>& args, const std::shared_ptr<Env>&) {
      if (args.empty() || args[0].kind != Kind::String)
        unlocated(std::string("dict.get(): key must be a string, got ") + (args.empty() ? "nothing" : kind_name(args[0].kind)));
      if (const Value* v = o->find(args[0].str)) return *v;
      return args.size() > 1 ? args[1] : Value::null();
    });
  if (name == "items") return Value::function([o](std::vector<Value>&, const std::shared_ptr<Env>&) { return items_of(*o); });
  if (name == "keys")
    return Value::function([o](std::vector<Value>&, const std::shared_ptr<Env>&) {
      Array out;
      for (const auto& [k, v] : o->entries) out.push_back(Value::string(k));
      return Value::list(std::move(out));
    });
  if (name == "values")
    return Value::function([o](std::vector<Value>&, const std::shared_ptr<Env>&) {
      Array out;
      for (const auto& [k, v] : o->entries) out.push_back(v);
      return Value::list(std::move(out));
    });
  if (name == "dictsort")
    return Value::function([o, &in](std::vector<Value>& args, const std::shared_ptr<Env>&) {
      Object kw;
      std::vector<Value> pos;
      for (const Value& a : args) {
        if (a.kind == Kind::KwArgs) kw = *a.object;
        else pos.push_back(a);
      }
      auto pick = [&](size_t i, const char* key, Value fallback) {
        if (i < pos.size()) return pos[i];
        if (const Value* v = kw.find(key)) return *v;
        return fallback;
      };
      Value case_sensitive = pick(0, "case_sensitive", Value::from_bool(false));
      if (case_sensitive.kind != Kind::Bool) unlocated("dictsort: case_sensitive must be a boolean");
      Value by = pick(1, "by", Value::string("key"));
      if (by.kind != Kind::String || (by.str != "key" && by.str != "value"))
        unlocated("dictsort: by must be either 'key' or 'value'");
      Value reverse = pick(2, "reverse", Value::from_bool(false));
      if (reverse.kind != Kind::Bool) unlocated("dictsort: reverse must be a boolean");
      Value items = items_of(*o);
      size_t idx = by.str == "key" ? 0 : 1;
      in.tick(items.array->size() * 8);
      std::stable_sort(items.array->begin(), items.array->end(), [&](const Value& a, const Value& b) {
        int r = compare_values((*a.array)[idx], (*b.array)[idx], case_sensitive.boolean);
        return reverse.boolean ? r > 0 : r < 0;
      });
      return items;
    });
  return Value::undefined();
}

// English month names as Intl.DateTimeFormat gives them in the default (en-US) locale.
const char* const kMonthLong[] = {"January", "February", "March",     "April",   "May",      "June",
                                  "July",    "August",   "September", "October", "November", "December"};
const char* const kMonthShort[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::string strftime_now(const std::string& format) {
  std::time_t t = std::time(nullptr);
  std::tm tm{};
  localtime_r(&t, &tm);
  auto pad2 = [](int n) { return (n < 10 ? "0" : "") + std::to_string(n); };
  std::string out;
  for (size_t i = 0; i < format.size(); ++i) {
    if (format[i] != '%' || i + 1 >= format.size()) {
      out += format[i];
      continue;
    }
    char c = format[i + 1];
    std::string piece;
    switch (c) {
      case 'Y': piece = std::to_string(tm.tm_year + 1900); break;
      case 'm': piece = pad2(tm.tm_mon + 1); break;
      case 'd': piece = pad2(tm.tm_mday); break;
      case 'b': piece = kMonthShort[tm.tm_mon]; break;
      case 'B': piece = kMonthLong[tm.tm_mon]; break;
      case 'H': piece = pad2(tm.tm_hour); break;
      case 'M': piece = pad2(tm.tm_min); break;
      case '%': piece = "%"; break;
      default: out += '%'; continue;
    }
    out += piece;
    ++i;
  }
  return out;
}

Value number_value(double d) { return std::trunc(d) == d ? Value::integer(d) : Value::floating(d); }

// range(stop) / range(start, stop[, step]) over JS numbers.
Value range(const std::vector<Value>& args) {
  for (const Value& a : args)
    if (!a.is_number() && a.kind != Kind::Bool) unlocated("range() arguments must be numbers");
  auto num = [](const Value& v) { return v.kind == Kind::Bool ? (v.boolean ? 1.0 : 0.0) : v.number; };
  if (args.empty()) unlocated("range() needs at least one argument");
  double start = 0, stop, step = 1;
  if (args.size() == 1) {
    stop = num(args[0]);
  } else {
    start = num(args[0]);
    stop = num(args[1]);
    if (args.size() > 2) step = num(args[2]);
  }
  if (step == 0) unlocated("range() step must not be zero");
  if (!std::isfinite(start) || !std::isfinite(step) || std::isnan(stop)) unlocated("range() arguments must be finite");
  double n = step > 0 ? std::ceil((stop - start) / step) : std::ceil((start - stop) / -step);
  if (n > kMaxRange) unlocated("range() of more than " + std::to_string(int(kMaxRange)) + " items");
  Array out;
  if (step > 0)
    for (double i = start; i < stop; i += step) out.push_back(number_value(i));
  else
    for (double i = start; i > stop; i += step) out.push_back(number_value(i));
  return Value::list(std::move(out));
}

Value namespace_entry_key(const Value& pair, Value* value) {
  Array parts;
  if (pair.is_array()) parts = *pair.array;
  else if (pair.kind == Kind::String)
    for (auto& cp : code_points(pair.str)) parts.push_back(Value::string(cp));
  if (parts.size() != 2) unlocated("namespace() expected a dict or a list of [key, value] pairs");
  if (parts[0].kind != Kind::String) unlocated("namespace() keys must be strings");
  *value = parts[1];
  return parts[0];
}

}  // namespace

Value namespace_function() {
  return Value::function([](std::vector<Value>& args, const std::shared_ptr<Env>&) {
    std::vector<Value> positional = args;
    Object kwargs;
    if (!positional.empty() && positional.back().kind == Kind::KwArgs) {
      kwargs = *positional.back().object;
      positional.pop_back();
    }
    if (positional.size() > 1)
      unlocated("namespace() expected at most 1 argument, got " + std::to_string(positional.size()));
    Object entries;
    if (positional.size() == 1) {
      const Value& src = positional[0];
      if (src.is_object()) {
        for (const auto& [k, v] : src.object->entries) entries.set(k, v);
      } else if (src.is_array()) {
        for (const Value& pair : *src.array) {
          Value v;
          Value k = namespace_entry_key(pair, &v);
          entries.set(k.str, v);
        }
      } else {
        unlocated(std::string("'") + kind_name(src.kind) + "' object is not iterable");
      }
    }
    for (const auto& [k, v] : kwargs.entries) entries.set(k, v);
    return Value::map(std::move(entries), Kind::Namespace);
  });
}

std::shared_ptr<Env> make_global_env() {
  auto env = std::make_shared<Env>();
  env->set("false", Value::from_bool(false));
  env->set("true", Value::from_bool(true));
  env->set("none", Value::null());
  env->set("raise_exception", Value::function([](std::vector<Value>& args, const std::shared_ptr<Env>&) -> Value {
             std::string msg;
             if (!args.empty() && !args[0].is_undefined()) msg = raw_string(args[0]);
             throw Unlocated("raise_exception: " + msg);
           }));
  env->set("range", Value::function([](std::vector<Value>& args, const std::shared_ptr<Env>&) { return range(args); }));
  env->set("strftime_now", Value::function([](std::vector<Value>& args, const std::shared_ptr<Env>&) {
             if (args.empty() || args[0].kind != Kind::String) unlocated("strftime_now() needs a format string");
             return Value::string(strftime_now(args[0].str));
           }));
  env->set("True", Value::from_bool(true));
  env->set("False", Value::from_bool(false));
  env->set("None", Value::null());
  return env;
}

Value member_builtin(Interpreter& in, const Value& object, const std::string& name) {
  if (object.kind == Kind::String) return string_method(in, object.str, name);
  if (object.is_array()) return name == "length" ? Value::integer(static_cast<double>(object.array->size())) : Value::undefined();
  if (object.is_object()) return object_method(in, object, name);
  return Value::undefined();
}

bool has_test(const std::string& n) {
  static const char* const kTests[] = {"boolean", "callable", "odd",     "even",    "false",  "true",  "none",
                                       "string",  "number",   "integer", "iterable", "mapping", "sequence", "lower",
                                       "upper",   "defined",  "undefined", "equalto", "eq"};
  for (const char* t : kTests)
    if (n == t) return true;
  return false;
}

bool run_test(const std::string& n, const Value& v, const Value* arg) {
  if (n == "boolean") return v.kind == Kind::Bool;
  if (n == "callable") return v.kind == Kind::Function;
  if (n == "odd" || n == "even") {
    if (v.kind != Kind::Int) unlocated("cannot test " + n + " on " + kind_name(v.kind));
    bool odd = std::fmod(v.number, 2) != 0;
    return n == "odd" ? odd : !odd;
  }
  if (n == "false") return v.kind == Kind::Bool && !v.boolean;
  if (n == "true") return v.kind == Kind::Bool && v.boolean;
  if (n == "none") return v.kind == Kind::Null;
  if (n == "string") return v.kind == Kind::String;
  if (n == "number") return v.is_number();
  if (n == "integer") return v.kind == Kind::Int;
  if (n == "iterable") return v.kind == Kind::Array || v.kind == Kind::String;
  if (n == "mapping") return v.is_object();
  if (n == "sequence") return v.is_array() || v.is_object() || v.kind == Kind::String;
  if (n == "lower" || n == "upper") {
    if (v.kind != Kind::String) unlocated("cannot test " + n + " on " + kind_name(v.kind));
    return v.str == (n == "lower" ? js_lower(v.str) : js_upper(v.str));
  }
  if (n == "defined") return !v.is_undefined();
  if (n == "undefined") return v.is_undefined();
  if (n == "equalto" || n == "eq") {
    if (!arg) unlocated("test '" + n + "' needs a value to compare with");
    return strict_equals(v, *arg);
  }
  unlocated("unknown test '" + n + "'");
}

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  if (a.is_null() && b.is_null()) return 0;
  if (a.is_null() || b.is_null()) unlocated(std::string("cannot compare ") + kind_name(a.kind) + " with " + kind_name(b.kind));
  if (a.is_undefined() && b.is_undefined()) return 0;
  if (a.is_undefined() || b.is_undefined())
    unlocated(std::string("cannot compare ") + kind_name(a.kind) + " with " + kind_name(b.kind));
  auto numeric = [](const Value& v) { return v.is_number() || v.kind == Kind::Bool; };
  auto num = [](const Value& v) { return v.kind == Kind::Bool ? (v.boolean ? 1.0 : 0.0) : v.number; };
  if (numeric(a) && numeric(b)) {
    double x = num(a), y = num(b);
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind != b.kind) unlocated(std::string("cannot compare different types: ") + kind_name(a.kind) + " and " + kind_name(b.kind));
  if (a.kind != Kind::String) unlocated(std::string("cannot compare values of type ") + kind_name(a.kind));
  std::string x = case_sensitive ? a.str : js_lower(a.str), y = case_sensitive ? b.str : js_lower(b.str);
  return x < y ? -1 : x > y ? 1 : 0;
}

Value attribute_path(const Value& item, const std::string& path) {
  Value v = item;
  size_t pos = 0;
  while (true) {
    size_t dot = path.find('.', pos);
    std::string part = path.substr(pos, dot == std::string::npos ? std::string::npos : dot - pos);
    if (v.is_container()) {
      const Value* f = v.object->find(part);
      v = f ? *f : Value::undefined();
    } else if (v.is_array()) {
      double i = js_parse_int(part);
      if (std::isnan(i) || i < 0 || i >= static_cast<double>(v.array->size())) return Value::undefined();
      Value next = (*v.array)[static_cast<size_t>(i)];
      v = next;
    } else {
      return Value::undefined();
    }
    if (dot == std::string::npos) return v;
    pos = dot + 1;
  }
}

std::string js_join(const Array& items, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) out += separator;
    if (!items[i].is_null() && !items[i].is_undefined()) out += raw_string(items[i]);
  }
  return out;
}

}  // namespace llmr::jinja
