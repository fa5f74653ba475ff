// Statement and expression evaluation, mirroring @huggingface/jinja's runtime.ts.
#include "chat/jinja_interpreter.h"

#include <cmath>

#include "chat/js_text.h"
#include "core/error.h"

namespace llmr::jinja {
namespace {

// Loop control travels as exceptions, as in the reference (output of the interrupted iteration is lost).
struct BreakSignal {};
struct ContinueSignal {};

[[noreturn]] void unlocated(const std::string& msg) { throw Unlocated(msg); }

double to_index(double d) { return std::isnan(d) ? 0 : std::trunc(d); }

// Python-style slice as the reference's utils.slice does it (step 0 yields nothing).
template <typename T>
std::vector<T> slice_items(const std::vector<T>& a, const Value& start_v, const Value& stop_v, const Value& step_v) {
  double len = static_cast<double>(a.size());
  double step = step_v.is_undefined() ? 1 : step_v.number;
  double dir = step > 0 ? 1 : step < 0 ? -1 : 0;
  double start, stop;
  if (dir >= 0) {
    start = start_v.is_undefined() ? 0 : start_v.number;
    start = start < 0 ? std::max(len + start, 0.0) : std::min(start, len);
    stop = stop_v.is_undefined() ? len : stop_v.number;
    stop = stop < 0 ? std::max(len + stop, 0.0) : std::min(stop, len);
  } else {
    start = start_v.is_undefined() ? len - 1 : start_v.number;
    start = start < 0 ? std::max(len + start, -1.0) : std::min(start, len - 1);
    stop = stop_v.is_undefined() ? -1 : stop_v.number;
    stop = stop < -1 ? std::max(len + stop, -1.0) : std::min(stop, len - 1);
  }
  std::vector<T> out;
  if (dir == 0) return out;
  for (double i = start; dir * i < dir * stop; i += step) out.push_back(a[static_cast<size_t>(i)]);
  return out;
}

// Does the macro body read `kwargs` / `varargs` (so extra arguments are collected, not rejected)?
void find_special_loads(const Node* n, bool* kwargs, bool* varargs) {
  if (!n) return;
  if (n->kind == NodeKind::Identifier) {
    if (n->text == "kwargs") *kwargs = true;
    if (n->text == "varargs") *varargs = true;
    return;
  }
  if (n->kind == NodeKind::Member && !n->flag) return find_special_loads(n->a.get(), kwargs, varargs);
  if (n->kind == NodeKind::Filter) {
    find_special_loads(n->a.get(), kwargs, varargs);
    if (n->b->kind == NodeKind::Call)
      for (const auto& c : n->b->list) find_special_loads(c.get(), kwargs, varargs);
    return;
  }
  if (n->kind == NodeKind::Macro || n->kind == NodeKind::CallBlock) return;  // their own arguments
  find_special_loads(n->a.get(), kwargs, varargs);
  find_special_loads(n->b.get(), kwargs, varargs);
  find_special_loads(n->c.get(), kwargs, varargs);
  for (const auto* v : {&n->list, &n->body, &n->alt})
    for (const auto& c : *v) find_special_loads(c.get(), kwargs, varargs);
}

void special_loads(const std::vector<NodePtr>& params, const std::vector<NodePtr>& body, bool* kwargs, bool* varargs) {
  *kwargs = *varargs = false;
  for (const auto& c : body) find_special_loads(c.get(), kwargs, varargs);
  for (const auto& p : params) {
    if (p->text == "kwargs") *kwargs = false;
    if (p->text == "varargs") *varargs = false;
  }
}

}  // namespace

void Env::set(const std::string& name, Value v) {
  for (auto& [k, old] : vars)
    if (k == name) {
      old = std::move(v);
      return;
    }
  vars.emplace_back(name, std::move(v));
}

bool Env::has_own(const std::string& name) const {
  for (const auto& [k, v] : vars)
    if (k == name) return true;
  return false;
}

Value Env::lookup(const std::string& name) const {
  for (const Env* e = this; e; e = e->parent.get()) {
    for (const auto& [k, v] : e->vars)
      if (k == name) return v;
    if (name == "namespace") break;  // every scope has its own built-in binding
  }
  if (name == "namespace") {
    static const Value builtin = namespace_function();
    return builtin;
  }
  return Value::undefined();
}

void declare(Env& env, const std::string& name, Value v) {
  if (env.has_own(name) || name == "namespace") throw Error("chat template variable '" + name + "' is already declared");
  env.set(name, std::move(v));
}

void Interpreter::charge(size_t bytes) {
  bytes_ += bytes;
  if (bytes_ > limits_.max_bytes)
    unlocated("template builds more than " + std::to_string(limits_.max_bytes) + " bytes (output/memory limit)");
}

void Interpreter::tick(size_t steps) {
  steps_ += steps;
  if (steps_ > limits_.max_steps)
    unlocated("template takes more than " + std::to_string(limits_.max_steps) + " evaluation steps (step limit)");
}

Value Interpreter::make_string(std::string s) {
  charge(s.size());
  return Value::string(std::move(s));
}

std::string Interpreter::render(const std::vector<NodePtr>& program, const std::shared_ptr<Env>& env) {
  try {
    return eval_block(program, env);
  } catch (const BreakSignal&) {
    throw Error("chat template: 'break' outside of a loop");
  } catch (const ContinueSignal&) {
    throw Error("chat template: 'continue' outside of a loop");
  } catch (const Unlocated& e) {
    throw Error(std::string("chat template: ") + e.what());
  }
}

std::string Interpreter::eval_block(const std::vector<NodePtr>& body, const std::shared_ptr<Env>& env) {
  std::string out;
  for (const auto& s : body) {
    if (s->kind == NodeKind::Text) {
      charge(s->text.size());
      out += s->text;
      continue;
    }
    Value v = eval(s.get(), env);
    if (v.kind == Kind::Null || v.kind == Kind::Undefined) continue;
    if (v.kind == Kind::String) {
      out += v.str;
    } else {
      std::string text = display(v);
      charge(text.size());
      out += text;
    }
  }
  return out;
}

Value Interpreter::eval(const Node* n, const std::shared_ptr<Env>& env) {
  if (!n) return Value::undefined();
  struct Depth {
    int& d;
    Depth(int& depth, int max) : d(depth) {
      if (++d > max) {
        --d;
        throw Unlocated("template nests or recurses deeper than " + std::to_string(max) + " levels");
      }
    }
    ~Depth() { --d; }
  };
  try {
    tick(1);
    Depth guard(depth_, limits_.max_depth);
    return eval_node(*n, env);
  } catch (const Unlocated& e) {
    throw Error("chat template line " + std::to_string(n->line) + ": " + e.what());
  }
}

Value Interpreter::eval_node(const Node& n, const std::shared_ptr<Env>& env) {
  switch (n.kind) {
    case NodeKind::Text:
    case NodeKind::StringLiteral: return Value::string(n.text);
    case NodeKind::Comment: return Value::null();
    case NodeKind::Set: return eval_set(n, env);
    case NodeKind::If: {
      bool test = eval(n.a.get(), env).truthy();
      return make_string(eval_block(test ? n.body : n.alt, env));
    }
    case NodeKind::For: return eval_for(n, env);
    case NodeKind::Break: throw BreakSignal{};
    case NodeKind::Continue: throw ContinueSignal{};
    case NodeKind::Macro: return eval_macro(n, env);
    case NodeKind::CallBlock: return eval_call_block(n, env);
    case NodeKind::FilterBlock: {
      Value body = Value::string(eval_block(n.body, env));
      return apply_filter(body, *n.a, env);
    }
    case NodeKind::IntLiteral: return Value::integer(n.number);
    case NodeKind::FloatLiteral: return Value::floating(n.number);
    case NodeKind::ArrayLiteral:
    case NodeKind::TupleLiteral: {
      Array items;
      for (const auto& c : n.list) items.push_back(eval(c.get(), env));
      charge(items.size() * sizeof(Value));
      return Value::list(std::move(items), n.kind == NodeKind::TupleLiteral ? Kind::Tuple : Kind::Array);
    }
    case NodeKind::ObjectLiteral: {
      Object o;
      for (size_t i = 0; i + 1 < n.list.size(); i += 2) {
        Value key = eval(n.list[i].get(), env);
        if (key.kind != Kind::String) unlocated(std::string("dict keys must be strings, got ") + kind_name(key.kind));
        o.set(key.str, eval(n.list[i + 1].get(), env));
      }
      return Value::map(std::move(o));
    }
    case NodeKind::Identifier: return env->lookup(n.text);
    case NodeKind::Member: return eval_member(n, env);
    case NodeKind::Call: return eval_call(n, env);
    case NodeKind::Unary: return eval_unary(n, env);
    case NodeKind::Binary: return eval_binary(n, env);
    case NodeKind::Filter: {
      Value operand = eval(n.a.get(), env);
      return apply_filter(operand, *n.b, env);
    }
    case NodeKind::Test: return eval_test(n, env);
    case NodeKind::Select: {
      if (!eval(n.b.get(), env).truthy()) return Value::undefined();
      return eval(n.a.get(), env);
    }
    case NodeKind::Ternary:
      return eval(n.a.get(), env).truthy() ? eval(n.b.get(), env) : eval(n.c.get(), env);
    default: unlocated("this construct cannot be evaluated here");
  }
}

Value Interpreter::eval_unary(const Node& n, const std::shared_ptr<Env>& env) {
  Value v = eval(n.a.get(), env);
  if (n.text == "not") return Value::from_bool(!v.truthy());
  double sign = n.text == "-" ? -1 : 1;
  if (v.kind == Kind::Int || v.kind == Kind::Bool) return Value::integer(sign * (v.kind == Kind::Bool ? v.boolean : v.number));
  if (v.kind == Kind::Float) return Value::floating(sign * v.number);
  unlocated("unary '" + n.text + "' cannot apply to " + kind_name(v.kind));
}

Value Interpreter::eval_binary(const Node& n, const std::shared_ptr<Env>& env) {
  const std::string& op = n.text;
  Value left = eval(n.a.get(), env);
  if (op == "and") return left.truthy() ? eval(n.b.get(), env) : left;
  if (op == "or") return left.truthy() ? left : eval(n.b.get(), env);
  Value right = eval(n.b.get(), env);
  if (op == "==") return Value::from_bool(loose_equals(left, right));
  if (op == "!=") return Value::from_bool(!loose_equals(left, right));
  if (left.is_undefined() || right.is_undefined()) {
    if (right.is_undefined() && (op == "in" || op == "not in")) return Value::from_bool(op == "not in");
    unlocated("cannot apply '" + op + "' to an undefined value");
  }
  if (left.is_null() || right.is_null()) unlocated("cannot apply '" + op + "' to none");
  if (op == "~") {
    std::string s = raw_string(left) + raw_string(right);
    return make_string(std::move(s));
  }
  auto numeric_like = [](const Value& v) { return v.is_number() || v.kind == Kind::Bool; };
  auto num = [](const Value& v) { return v.kind == Kind::Bool ? (v.boolean ? 1.0 : 0.0) : v.number; };
  if (op == "**" && numeric_like(left) && numeric_like(right)) {
    double a = num(left), b = num(right);
    if (a == 0 && b < 0) unlocated("0.0 cannot be raised to a negative power");
    double r = std::pow(a, b);
    if (!std::isfinite(r)) unlocated("exponentiation result is not a finite real number");
    bool is_float = left.kind == Kind::Float || right.kind == Kind::Float || b < 0;
    return is_float ? Value::floating(r) : Value::integer(r);
  }
  if (left.is_number() && right.is_number()) {
    double a = left.number, b = right.number;
    bool is_float = left.kind == Kind::Float || right.kind == Kind::Float;
    auto result = [&](double r) { return is_float ? Value::floating(r) : Value::integer(r); };
    if (op == "+") return result(a + b);
    if (op == "-") return result(a - b);
    if (op == "*") return result(a * b);
    if (op == "/") return Value::floating(a / b);
    if (op == "//") return result(std::floor(a / b));
    if (op == "%") return result(std::fmod(a, b));
    if (op == "<") return Value::from_bool(a < b);
    if (op == ">") return Value::from_bool(a > b);
    if (op == ">=") return Value::from_bool(a >= b);
    if (op == "<=") return Value::from_bool(a <= b);
  } else if (left.is_array() && right.is_array()) {
    if (op == "+") {
      Array items = *left.array;
      items.insert(items.end(), right.array->begin(), right.array->end());
      charge(items.size() * sizeof(Value));
      return Value::list(std::move(items));
    }
  } else if (right.is_array()) {
    bool member = false;
    for (const Value& x : *right.array)
      if (strict_equals(x, left)) {
        member = true;
        break;
      }
    if (op == "in") return Value::from_bool(member);
    if (op == "not in") return Value::from_bool(!member);
  }
  if ((left.kind == Kind::String || right.kind == Kind::String) && op == "+")
    return make_string(raw_string(left) + raw_string(right));
  if (left.kind == Kind::String && right.kind == Kind::String) {
    if (op == "in") return Value::from_bool(right.str.find(left.str) != std::string::npos);
    if (op == "not in") return Value::from_bool(right.str.find(left.str) == std::string::npos);
  }
  if (left.kind == Kind::String && right.is_object()) {
    bool has = right.object->find(left.str) != nullptr;
    if (op == "in") return Value::from_bool(has);
    if (op == "not in") return Value::from_bool(!has);
  }
  unlocated("operator '" + op + "' is not supported between " + kind_name(left.kind) + " and " + kind_name(right.kind));
}

void Interpreter::eval_arguments(const std::vector<NodePtr>& args, const std::shared_ptr<Env>& env,
                                 std::vector<Value>& positional, Object& keywords) {
  for (const auto& a : args) {
    if (a->kind == NodeKind::Spread) {
      Value v = eval(a->a.get(), env);
      if (!v.is_array()) unlocated(std::string("cannot unpack non-iterable ") + kind_name(v.kind));
      positional.insert(positional.end(), v.array->begin(), v.array->end());
    } else if (a->kind != NodeKind::KeywordArg && a->kind != NodeKind::KeywordSpread) {
      positional.push_back(eval(a.get(), env));
    }
  }
  auto add = [&](const std::string& k, Value v) {
    if (keywords.find(k)) unlocated("got multiple values for keyword argument '" + k + "'");
    keywords.set(k, std::move(v));
  };
  for (const auto& a : args) {
    if (a->kind == NodeKind::KeywordArg) {
      add(a->text, eval(a->a.get(), env));
    } else if (a->kind == NodeKind::KeywordSpread) {
      Value v = eval(a->a.get(), env);
      if (!v.is_object()) unlocated(std::string("argument after ** must be a mapping, not ") + kind_name(v.kind));
      for (const auto& [k, x] : v.object->entries) add(k, x);
    }
  }
}

Value Interpreter::eval_call(const Node& n, const std::shared_ptr<Env>& env) {
  std::vector<Value> args;
  Object kwargs;
  eval_arguments(n.list, env, args, kwargs);
  if (!kwargs.entries.empty()) args.push_back(Value::map(std::move(kwargs), Kind::KwArgs));
  Value fn = eval(n.a.get(), env);
  if (fn.kind != Kind::Function) unlocated(std::string("cannot call something that is not a function: got ") + kind_name(fn.kind));
  return (*fn.fn)(args, env);
}

Value Interpreter::eval_slice(const Value& object, const Node& n, const std::shared_ptr<Env>& env) {
  if (!object.is_array() && object.kind != Kind::String) unlocated("only lists and strings can be sliced");
  Value start = eval(n.a.get(), env), stop = eval(n.b.get(), env), step = eval(n.c.get(), env);
  for (const Value* v : {&start, &stop, &step})
    if (v->kind != Kind::Int && !v->is_undefined()) unlocated("slice indices must be integers");
  if (object.is_array()) {
    Array items = slice_items(*object.array, start, stop, step);
    charge(items.size() * sizeof(Value));
    return Value::list(std::move(items));
  }
  std::string out;
  for (const std::string& cp : slice_items(code_points(object.str), start, stop, step)) out += cp;
  return make_string(std::move(out));
}

Value Interpreter::eval_member(const Node& n, const std::shared_ptr<Env>& env) {
  Value object = eval(n.a.get(), env);
  Value property;
  if (n.flag) {
    if (n.b->kind == NodeKind::Slice) return eval_slice(object, *n.b, env);
    property = eval(n.b.get(), env);
  } else if (n.b->kind == NodeKind::IntLiteral) {
    property = Value::integer(n.b->number);
  } else {
    property = Value::string(n.b->text);
  }
  if (object.is_container()) {
    if (property.kind != Kind::String)
      unlocated(std::string("cannot access a property with a non-string key: got ") + kind_name(property.kind));
    if (const Value* v = object.object->find(property.str)) return *v;
    if (object.is_object()) return member_builtin(*this, object, property.str);
    return Value::undefined();
  }
  if (object.is_array() || object.kind == Kind::String) {
    if (property.kind == Kind::Int) {
      if (object.kind == Kind::String) {
        auto c = utf16_at(object.str, property.number);
        return c ? Value::string(*c) : Value::undefined();
      }
      double len = static_cast<double>(object.array->size());
      double i = to_index(property.number);
      if (i < 0) i += len;
      if (!(i >= 0 && i < len)) return Value::undefined();
      return (*object.array)[static_cast<size_t>(i)];
    }
    if (property.kind == Kind::String) return member_builtin(*this, object, property.str);
    unlocated(std::string("cannot index with ") + kind_name(property.kind));
  }
  if (property.kind != Kind::String)
    unlocated(std::string("cannot access a property with a non-string key: got ") + kind_name(property.kind));
  return member_builtin(*this, object, property.str);
}

Value Interpreter::eval_test(const Node& n, const std::shared_ptr<Env>& env) {
  Value operand = eval(n.a.get(), env);
  if (!has_test(n.text)) unlocated("unknown test '" + n.text + "'");
  bool r = run_test(n.text, operand, nullptr);
  return Value::from_bool(n.flag ? !r : r);
}

Value Interpreter::eval_set(const Node& n, const std::shared_ptr<Env>& env) {
  Value rhs = n.b ? eval(n.b.get(), env) : make_string(eval_block(n.body, env));
  const Node& target = *n.a;
  if (target.kind == NodeKind::Identifier) {
    env->set(target.text, std::move(rhs));
  } else if (target.kind == NodeKind::TupleLiteral) {
    if (!rhs.is_array()) unlocated(std::string("cannot unpack non-iterable ") + kind_name(rhs.kind) + " in 'set'");
    if (rhs.array->size() != target.list.size())
      unlocated(std::string("too ") + (target.list.size() > rhs.array->size() ? "few" : "many") + " items to unpack in 'set'");
    for (size_t i = 0; i < target.list.size(); ++i) {
      if (target.list[i]->kind != NodeKind::Identifier) unlocated("can only unpack into names in 'set'");
      env->set(target.list[i]->text, (*rhs.array)[i]);
    }
  } else if (target.kind == NodeKind::Member) {
    Value object = eval(target.a.get(), env);
    if (object.kind != Kind::Namespace) unlocated("cannot assign an attribute of something that is not a namespace()");
    if (target.b->kind != NodeKind::Identifier) unlocated("can only assign a namespace attribute by name");
    object.object->set(target.b->text, std::move(rhs));
  } else {
    unlocated("invalid target for 'set'");
  }
  return Value::null();
}

Value Interpreter::eval_for(const Node& n, const std::shared_ptr<Env>& env) {
  auto scope = std::make_shared<Env>(env);
  const Node* test = nullptr;
  Value iterable;
  if (n.b->kind == NodeKind::Select) {
    iterable = eval(n.b->a.get(), scope);
    test = n.b->b.get();
  } else {
    iterable = eval(n.b.get(), scope);
  }
  if (iterable.is_object()) {
    Array keys;
    for (const auto& [k, v] : iterable.object->entries) keys.push_back(Value::string(k));
    iterable = Value::list(std::move(keys));
  } else if (!iterable.is_array()) {
    unlocated(std::string("'for' needs a list or dict to iterate over, got ") + kind_name(iterable.kind));
  }
  const Node& target = *n.a;
  auto bind = [&](Env& e, const Value& item) {
    if (target.kind == NodeKind::Identifier) return e.set(target.text, item);
    if (item.kind != Kind::Array) unlocated(std::string("cannot unpack non-iterable ") + kind_name(item.kind));
    if (item.array->size() != target.list.size())
      unlocated(std::string("too ") + (target.list.size() > item.array->size() ? "few" : "many") + " items to unpack");
    for (size_t j = 0; j < target.list.size(); ++j) {
      if (target.list[j]->kind != NodeKind::Identifier) unlocated("can only unpack into names in 'for'");
      e.set(target.list[j]->text, (*item.array)[j]);
    }
  };
  Array items;
  for (const Value& item : *iterable.array) {
    tick(1);
    if (test) {
      auto loop_scope = std::make_shared<Env>(scope);
      bind(*loop_scope, item);
      if (!eval(test, loop_scope).truthy()) continue;
    } else if (target.kind != NodeKind::Identifier) {
      Env probe;
      bind(probe, item);  // unpacking errors surface before the first iteration, as in the reference
    }
    items.push_back(item);
  }
  std::string out;
  bool no_iteration = true;
  const size_t count = items.size();
  for (size_t i = 0; i < count; ++i) {
    Object loop;
    loop.set("index", Value::integer(double(i + 1)));
    loop.set("index0", Value::integer(double(i)));
    loop.set("revindex", Value::integer(double(count - i)));
    loop.set("revindex0", Value::integer(double(count - i - 1)));
    loop.set("first", Value::from_bool(i == 0));
    loop.set("last", Value::from_bool(i == count - 1));
    loop.set("length", Value::integer(double(count)));
    loop.set("previtem", i > 0 ? items[i - 1] : Value::undefined());
    loop.set("nextitem", i + 1 < count ? items[i + 1] : Value::undefined());
    scope->set("loop", Value::map(std::move(loop)));
    bind(*scope, items[i]);
    try {
      out += eval_block(n.body, scope);
    } catch (const ContinueSignal&) {
      continue;
    } catch (const BreakSignal&) {
      break;
    }
    no_iteration = false;
  }
  if (no_iteration) out += eval_block(n.alt, scope);
  return Value::string(std::move(out));
}

void Interpreter::bind_macro_arguments(const std::string& name, const std::vector<NodePtr>& params, bool uses_kwargs,
                                       bool uses_varargs, std::vector<Value> args, const std::shared_ptr<Env>& scope) {
  Object kwargs;
  if (!args.empty() && args.back().kind == Kind::KwArgs) {
    kwargs = *args.back().object;
    args.pop_back();
  }
  std::vector<const Node*> pending;
  for (size_t i = 0; i < params.size(); ++i) {
    const Node& p = *params[i];
    Value v;
    bool have = i < args.size();
    if (have) v = args[i];
    if (!have) {
      for (auto it = kwargs.entries.begin(); it != kwargs.entries.end(); ++it)
        if (it->first == p.text) {
          v = it->second;
          have = true;
          kwargs.entries.erase(it);
          break;
        }
    }
    if (!have && p.kind == NodeKind::KeywordArg) pending.push_back(&p);
    scope->set(p.text, have ? v : Value::undefined());
  }
  if (uses_kwargs) scope->set("kwargs", Value::map(kwargs));
  else if (!kwargs.entries.empty())
    unlocated("macro " + name + " takes no keyword argument '" + kwargs.entries.front().first + "'");
  if (uses_varargs) {
    Array rest;
    for (size_t i = params.size(); i < args.size(); ++i) rest.push_back(args[i]);
    scope->set("varargs", Value::list(std::move(rest)));
  } else if (args.size() > params.size()) {
    unlocated("macro " + name + " takes not more than " + std::to_string(params.size()) + " argument(s)");
  }
  for (const Node* p : pending) scope->set(p->text, eval(p->a.get(), scope));
}

Value Interpreter::eval_macro(const Node& n, const std::shared_ptr<Env>& env) {
  bool uses_kwargs, uses_varargs;
  special_loads(n.list, n.body, &uses_kwargs, &uses_varargs);
  const Node* node = &n;
  env->set(n.text, Value::function([this, node, uses_kwargs, uses_varargs](std::vector<Value>& args,
                                                                           const std::shared_ptr<Env>& caller_scope) {
    auto scope = std::make_shared<Env>(caller_scope);
    bind_macro_arguments("'" + node->text + "'", node->list, uses_kwargs, uses_varargs, args, scope);
    return Value::string(eval_block(node->body, scope));
  }));
  return Value::null();
}

Value Interpreter::eval_call_block(const Node& n, const std::shared_ptr<Env>& env) {
  bool uses_kwargs, uses_varargs;
  special_loads(n.list, n.body, &uses_kwargs, &uses_varargs);
  const Node* node = &n;
  std::shared_ptr<Env> defining = env;
  Value caller = Value::function([this, node, defining, uses_kwargs, uses_varargs](std::vector<Value>& args,
                                                                                   const std::shared_ptr<Env>&) {
    auto scope = std::make_shared<Env>(defining);
    bind_macro_arguments("None", node->list, uses_kwargs, uses_varargs, args, scope);
    return Value::string(eval_block(node->body, scope));
  });
  const Node& call = *n.a;
  std::vector<Value> args;
  Object kwargs;
  eval_arguments(call.list, env, args, kwargs);
  args.push_back(Value::map(std::move(kwargs), Kind::KwArgs));
  Value fn = eval(call.a.get(), env);
  if (fn.kind != Kind::Function) unlocated(std::string("cannot call something that is not a function: got ") + kind_name(fn.kind));
  auto call_scope = std::make_shared<Env>(env);
  call_scope->set("caller", caller);
  return (*fn.fn)(args, call_scope);
}

}  // namespace llmr::jinja
