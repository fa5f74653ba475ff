#pragma once
// Evaluates a parsed template: scopes, statements, expressions, filters and tests, with the
// semantics of @huggingface/jinja, under limits that stop hostile templates.
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "chat/jinja_ast.h"
#include "chat/jinja_value.h"

namespace llmr::jinja {

struct Limits {
  size_t max_steps = 20'000'000;        // expression/statement evaluations per render
  size_t max_bytes = size_t(1) << 30;   // bytes of strings and lists built per render (cumulative)
  int max_depth = 300;                  // evaluation nesting, including macro recursion
};

// A scope. Every scope starts with its own `namespace` binding, as in the reference implementation.
struct Env {
  std::shared_ptr<Env> parent;
  std::vector<std::pair<std::string, Value>> vars;

  explicit Env(std::shared_ptr<Env> p = nullptr) : parent(std::move(p)) {}
  void set(const std::string& name, Value v);
  Value lookup(const std::string& name) const;
  bool has_own(const std::string& name) const;
};

// A root scope holding the globals (true/false/none, raise_exception, range, strftime_now).
std::shared_ptr<Env> make_global_env();
// Declares an input variable; Error when it is already declared (e.g. a global's name).
void declare(Env& env, const std::string& name, Value v);

class Interpreter {
 public:
  explicit Interpreter(const Limits& limits) : limits_(limits) {}
  std::string render(const std::vector<NodePtr>& program, const std::shared_ptr<Env>& env);

  // Used by filters and builtins.
  Value eval(const Node* n, const std::shared_ptr<Env>& env);
  Value make_string(std::string s);
  void charge(size_t bytes);
  void tick(size_t steps);
  Value apply_filter(const Value& operand, const Node& filter, const std::shared_ptr<Env>& env);
  // Positional arguments (with * unpacked) and keyword arguments, in source order.
  void eval_arguments(const std::vector<NodePtr>& args, const std::shared_ptr<Env>& env, std::vector<Value>& positional,
                      Object& keywords);

 private:
  Limits limits_;
  size_t steps_ = 0, bytes_ = 0;
  int depth_ = 0;

  Value eval_node(const Node& n, const std::shared_ptr<Env>& env);
  std::string eval_block(const std::vector<NodePtr>& body, const std::shared_ptr<Env>& env);
  Value eval_binary(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_unary(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_member(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_slice(const Value& object, const Node& n, const std::shared_ptr<Env>& env);
  Value eval_call(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_test(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_set(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_for(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_macro(const Node& n, const std::shared_ptr<Env>& env);
  Value eval_call_block(const Node& n, const std::shared_ptr<Env>& env);
  void bind_macro_arguments(const std::string& name, const std::vector<NodePtr>& params, bool uses_kwargs,
                            bool uses_varargs, std::vector<Value> args, const std::shared_ptr<Env>& scope);
};

// Builtins shared by the interpreter and filters (jinja_builtins.cpp).
Value namespace_function();  // the global namespace(...)
Value member_builtin(Interpreter& in, const Value& object, const std::string& name);  // undefined if none
bool run_test(const std::string& name, const Value& operand, const Value* arg);      // throws Unlocated if unknown
bool has_test(const std::string& name);
int compare_values(const Value& a, const Value& b, bool case_sensitive);
Value attribute_path(const Value& item, const std::string& path);
std::string js_join(const Array& items, const std::string& separator);  // Array.prototype.join on raw values

}  // namespace llmr::jinja
