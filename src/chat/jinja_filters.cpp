// The `|` filters, as @huggingface/jinja's applyFilter implements them (same names, types and errors).
#include <algorithm>
#include <cmath>

#include "chat/jinja_interpreter.h"
#include "chat/js_text.h"

namespace llmr::jinja {
namespace {

[[noreturn]] void unlocated(const std::string& msg) { throw Unlocated(msg); }

[[noreturn]] void cannot_apply(const std::string& filter, const Value& v) {
  unlocated("cannot apply filter '" + filter + "' to " + kind_name(v.kind));
}

std::string indent_lines(const std::string& s, const std::string& pad, bool first, bool blank) {
  std::string out;
  size_t start = 0;
  for (size_t line = 0;; ++line) {
    size_t nl = s.find('\n', start);
    std::string text = s.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (line) out += '\n';
    if ((!first && line == 0) || (!blank && text.empty())) out += text;
    else out += pad + text;
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  return out;
}

// Filters written without parentheses: `x | name`.
Value plain_filter(Interpreter& in, const Value& v, const std::string& name) {
  if (name == "safe") return v;
  if (name == "tojson") return in.make_string(to_json(v, JsonOptions{}));
  if (v.is_array()) {
    const Array& a = *v.array;
    if (name == "list") return v;
    if (name == "first" || name == "last") {
      if (a.empty()) unlocated("'" + name + "' of an empty list");
      return name == "first" ? a.front() : a.back();
    }
    if (name == "length") return Value::integer(static_cast<double>(a.size()));
    if (name == "reverse") return Value::list(Array(a.rbegin(), a.rend()));
    if (name == "sort") {
      Array sorted = a;
      in.tick(sorted.size() * 8);
      std::stable_sort(sorted.begin(), sorted.end(),
                       [](const Value& x, const Value& y) { return compare_values(x, y, false) < 0; });
      return Value::list(std::move(sorted));
    }
    if (name == "join") return in.make_string(js_join(a, ""));
    if (name == "string") return in.make_string(to_json(v, JsonOptions{}, 0, false));
    if (name == "unique") {
      Array out;
      in.tick(a.size() * a.size() / 4 + 1);
      for (const Value& x : a) {
        bool seen = false;
        for (const Value& y : out)
          if (strict_equals(x, y) || (x.is_number() && y.is_number() && std::isnan(x.number) && std::isnan(y.number))) {
            seen = true;
            break;
          }
        if (!seen) out.push_back(x);
      }
      return Value::list(std::move(out));
    }
    unlocated("unknown filter '" + name + "' for a list");
  }
  if (v.kind == Kind::String) {
    const std::string& s = v.str;
    if (name == "length" || name == "upper" || name == "lower" || name == "title" || name == "capitalize") {
      Value m = member_builtin(in, v, name);
      if (m.kind == Kind::Function) {
        std::vector<Value> none;
        return (*m.fn)(none, nullptr);
      }
      return m;
    }
    if (name == "trim") return in.make_string(js_trim(s));
    if (name == "indent") return in.make_string(indent_lines(s, "    ", false, false));
    if (name == "join" || name == "string") return v;
    if (name == "int") {
      double d = js_parse_int(s);
      return Value::integer(std::isnan(d) ? 0 : d);
    }
    if (name == "float") {
      double d = js_parse_float(s);
      return Value::floating(std::isnan(d) ? 0 : d);
    }
    unlocated("unknown filter '" + name + "' for a string");
  }
  if (v.is_number()) {
    if (name == "abs") return v.kind == Kind::Int ? Value::integer(std::fabs(v.number)) : Value::floating(std::fabs(v.number));
    if (name == "int") return Value::integer(std::floor(v.number));
    if (name == "float") return Value::floating(v.number);
    if (name == "string") return in.make_string(display(v));
    unlocated("unknown filter '" + name + "' for a number");
  }
  if (v.is_object()) {
    if (name == "length") return Value::integer(static_cast<double>(v.object->entries.size()));
    Value m = member_builtin(in, v, name);
    if (m.kind == Kind::Function) {
      std::vector<Value> none;
      return (*m.fn)(none, nullptr);
    }
    if (!m.is_undefined()) return m;
    unlocated("unknown filter '" + name + "' for a dict");
  }
  if (v.kind == Kind::Bool) {
    if (name == "bool") return v;
    if (name == "int") return Value::integer(v.boolean ? 1 : 0);
    if (name == "float") return Value::floating(v.boolean ? 1 : 0);
    if (name == "string") return Value::string(v.boolean ? "true" : "false");
    unlocated("unknown filter '" + name + "' for a boolean");
  }
  cannot_apply(name, v);
}

const Value* keyword(const Object& kw, const char* name) { return kw.find(name); }

Value arg_or(const std::vector<Value>& args, size_t i, const Object& kw, const char* name, Value fallback) {
  if (i < args.size()) return args[i];
  if (const Value* v = kw.find(name)) return *v;
  return fallback;
}

Value tojson_filter(Interpreter& in, const Value& v, const Object& kw) {
  JsonOptions opt;
  const Value* indent = keyword(kw, "indent");
  if (indent && !indent->is_null()) {
    if (indent->kind != Kind::Int) unlocated("tojson: indent must be an integer");
    if (indent->number < 0 || indent->number > 1000) unlocated("tojson: indent must be between 0 and 1000");
    opt.indent = static_cast<int>(indent->number);
  }
  const Value* ascii = keyword(kw, "ensure_ascii");
  if (ascii) {
    if (ascii->kind != Kind::Bool) unlocated("tojson: ensure_ascii must be a boolean");
    opt.ensure_ascii = ascii->boolean;
  }
  const Value* sort = keyword(kw, "sort_keys");
  if (sort) {
    if (sort->kind != Kind::Bool) unlocated("tojson: sort_keys must be a boolean");
    opt.sort_keys = sort->boolean;
  }
  const Value* seps = keyword(kw, "separators");
  if (seps && !seps->is_null()) {
    if (!seps->is_array() || seps->array->size() != 2 || (*seps->array)[0].kind != Kind::String ||
        (*seps->array)[1].kind != Kind::String)
      unlocated("tojson: separators must be a tuple of two strings");
    opt.has_separators = true;
    opt.item_separator = (*seps->array)[0].str;
    opt.key_separator = (*seps->array)[1].str;
  }
  return in.make_string(to_json(v, opt));
}

Value select_attr(Interpreter& in, const Value& v, const Node& call, const std::shared_ptr<Env>& env, bool select) {
  const std::string name = select ? "selectattr" : "rejectattr";
  for (const Value& item : *v.array)
    if (!item.is_container()) unlocated("'" + name + "' can only be applied to a list of dicts");
  for (const auto& a : call.list)
    if (a->kind != NodeKind::StringLiteral) unlocated("arguments of '" + name + "' must be string literals");
  if (call.list.empty()) unlocated("'" + name + "' needs an attribute name");
  std::string attr = call.list[0]->text;
  std::string test = call.list.size() > 1 ? call.list[1]->text : "";
  Value arg = call.list.size() > 2 ? Value::string(call.list[2]->text) : Value::undefined();
  if (!test.empty() && !has_test(test)) unlocated("unknown test '" + test + "'");
  Array out;
  for (const Value& item : *v.array) {
    const Value* a = item.object->find(attr);
    bool r = false;
    if (a) r = test.empty() ? a->truthy() : run_test(test, *a, call.list.size() > 2 ? &arg : nullptr);
    if (r == select) out.push_back(item);
  }
  in.tick(out.size());
  return Value::list(std::move(out));
}

// Filters with arguments: `x | name(...)`.
Value call_filter(Interpreter& in, const Value& v, const Node& call, const std::shared_ptr<Env>& env) {
  if (call.a->kind != NodeKind::Identifier) unlocated("a filter must be a name");
  const std::string& name = call.a->text;
  std::vector<Value> args;
  Object kw;
  auto evaluate = [&] { in.eval_arguments(call.list, env, args, kw); };
  if (name == "tojson") {
    evaluate();
    return tojson_filter(in, v, kw);
  }
  if (name == "join") {
    Array items;
    if (v.kind == Kind::String) {
      for (auto& cp : code_points(v.str)) items.push_back(Value::string(cp));
    } else if (v.is_array()) {
      items = *v.array;
    } else {
      cannot_apply(name, v);
    }
    evaluate();
    Value sep = arg_or(args, 0, kw, "separator", Value::string(""));
    if (sep.kind != Kind::String) unlocated("join: separator must be a string");
    return in.make_string(js_join(items, sep.str));
  }
  if (name == "int" || name == "float") {
    evaluate();
    bool is_int = name == "int";
    Value fallback = arg_or(args, 0, kw, "default", is_int ? Value::integer(0) : Value::floating(0));
    if (v.kind == Kind::String) {
      double d = is_int ? js_parse_int(v.str) : js_parse_float(v.str);
      if (std::isnan(d)) return fallback;
      return is_int ? Value::integer(d) : Value::floating(d);
    }
    if (v.is_number()) return v;
    if (v.kind == Kind::Bool) return is_int ? Value::integer(v.boolean ? 1 : 0) : Value::floating(v.boolean ? 1 : 0);
    cannot_apply(name, v);
  }
  if (name == "default") {
    evaluate();
    Value fallback = args.size() > 0 ? args[0] : Value::string("");
    Value boolean = arg_or(args, 1, kw, "boolean", Value::from_bool(false));
    if (boolean.kind != Kind::Bool) unlocated("default: the boolean flag must be a boolean");
    if (v.is_undefined() || (boolean.boolean && !v.truthy())) return fallback;
    return v;
  }
  if (v.is_array()) {
    if (name == "sort") {
      evaluate();
      Value reverse = arg_or(args, 0, kw, "reverse", Value::from_bool(false));
      if (reverse.kind != Kind::Bool) unlocated("sort: reverse must be a boolean");
      Value case_sensitive = arg_or(args, 1, kw, "case_sensitive", Value::from_bool(false));
      if (case_sensitive.kind != Kind::Bool) unlocated("sort: case_sensitive must be a boolean");
      Value attribute = arg_or(args, 2, kw, "attribute", Value::null());
      if (attribute.kind != Kind::String && attribute.kind != Kind::Int && !attribute.is_null())
        unlocated("sort: attribute must be a string, integer, or none");
      auto key = [&](const Value& item) {
        if (attribute.is_null()) return item;
        return attribute_path(item, attribute.kind == Kind::Int ? display(attribute) : attribute.str);
      };
      Array sorted = *v.array;
      in.tick(sorted.size() * 8);
      std::stable_sort(sorted.begin(), sorted.end(), [&](const Value& x, const Value& y) {
        int r = compare_values(key(x), key(y), case_sensitive.boolean);
        return reverse.boolean ? r > 0 : r < 0;
      });
      return Value::list(std::move(sorted));
    }
    if (name == "selectattr" || name == "rejectattr") return select_attr(in, v, call, env, name == "selectattr");
    if (name == "map") {
      evaluate();
      const Value* attr = kw.find("attribute");
      if (!attr) unlocated("map() without attribute= is not supported");
      if (attr->kind != Kind::String) unlocated("map: attribute must be a string");
      const Value* fallback = kw.find("default");
      Array out;
      for (const Value& item : *v.array) {
        if (!item.is_container()) unlocated("map: items must be dicts");
        Value x = attribute_path(item, attr->str);
        out.push_back(x.is_undefined() && fallback ? *fallback : x);
      }
      return Value::list(std::move(out));
    }
    unlocated("unknown filter '" + name + "' for a list");
  }
  if (v.kind == Kind::String) {
    if (name == "indent") {
      evaluate();
      Value width = arg_or(args, 0, kw, "width", Value::integer(4));
      if (width.kind != Kind::Int) unlocated("indent: width must be an integer");
      if (width.number < 0 || width.number > 1000) unlocated("indent: width must be between 0 and 1000");
      bool first = arg_or(args, 1, kw, "first", Value::from_bool(false)).truthy();
      bool blank = arg_or(args, 2, kw, "blank", Value::from_bool(false)).truthy();
      return in.make_string(indent_lines(v.str, std::string(static_cast<size_t>(width.number), ' '), first, blank));
    }
    if (name == "replace") {
      evaluate();
      Value fn = member_builtin(in, v, "replace");
      args.push_back(Value::map(kw, Kind::KwArgs));
      return (*fn.fn)(args, env);
    }
    unlocated("unknown filter '" + name + "' for a string");
  }
  if (v.is_object()) {
    Value fn = member_builtin(in, v, name);
    if (fn.kind != Kind::Function) unlocated("unknown filter '" + name + "' for a dict");
    evaluate();
    if (!kw.entries.empty()) args.push_back(Value::map(kw, Kind::KwArgs));
    return (*fn.fn)(args, env);
  }
  cannot_apply(name, v);
}

}  // namespace

Value Interpreter::apply_filter(const Value& operand, const Node& filter, const std::shared_ptr<Env>& env) {
  if (filter.kind == NodeKind::Identifier) return plain_filter(*this, operand, filter.text);
  if (filter.kind == NodeKind::Call) return call_filter(*this, operand, filter, env);
  throw Unlocated("a filter must be a name or a call");
}

}  // namespace llmr::jinja
