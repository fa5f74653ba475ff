// Hand-worked Jinja semantics (as @huggingface/jinja defines them), error messages and limits.
#include <gtest/gtest.h>

#include <random>

#include "chat/chat_template.h"
#include "core/error.h"
#include "test_util.h"

namespace {

using llmr::ChatTemplate;
using nlohmann::ordered_json;

std::string render(const std::string& src, const ordered_json& vars = ordered_json::object(),
                   llmr::ChatTemplateLimits limits = {}) {
  return ChatTemplate(src).render_variables(vars, limits);
}

std::string error_of(const std::string& src, const ordered_json& vars = ordered_json::object(),
                     llmr::ChatTemplateLimits limits = {}) {
  try {
    render(src, vars, limits);
  } catch (const llmr::Error& e) {
    return e.what();
  }
  return "(no error)";
}

std::string random_word() {
  std::uniform_int_distribution<int> len(1, 12), ch('a', 'z');
  std::string s;
  for (int i = len(llmr::testing::rng()); i > 0; --i) s += static_cast<char>(ch(llmr::testing::rng()));
  return s;
}

TEST(Jinja, TextExpressionsAndComments) {
  std::string w = random_word();
  EXPECT_EQ(render("a{{ x }}b{# note #}c", {{"x", w}}), "a" + w + "bc");
  EXPECT_EQ(render("{{ missing }}|{{ none }}|{{ true }}|{{ false }}"), "||true|false");
  EXPECT_EQ(render("{{ 'it''s' }}"), "its");  // adjacent literals concatenate
}

TEST(Jinja, WhitespaceControlMatchesTransformers) {
  // trim_blocks drops the newline after a block tag; lstrip_blocks drops indentation before it.
  EXPECT_EQ(render("  {% if true %}\n  x\n  {% endif %}\ny"), "  x\ny");
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a \n{%- if true -%}\n b {%- endif %}"), "ab");
  EXPECT_EQ(render("{{ 'x' }}\n"), "x");  // one trailing newline of the source is dropped
  EXPECT_EQ(render("{{ 'x' }}\n\n"), "x\n");
  EXPECT_EQ(render("{% generation %}g{% endgeneration %}"), "g");  // transformers' marker
}

TEST(Jinja, Arithmetic) {
  std::uniform_int_distribution<int> d(1, 1000);
  int a = d(llmr::testing::rng()), b = d(llmr::testing::rng());
  ordered_json v = {{"a", a}, {"b", b}};
  EXPECT_EQ(render("{{ a + b }},{{ a - b }},{{ a * b }}", v),
            std::to_string(a + b) + "," + std::to_string(a - b) + "," + std::to_string(a * b));
  EXPECT_EQ(render("{{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 6 / 2 }} {{ 2 ** 3 }}"), "-4 -1 3.5 3.0 8");
  EXPECT_EQ(render("{{ 1.0 }} {{ 0.1 + 0.2 }} {{ 100000000000000000000.0 }}"),
            "1.0 0.30000000000000004 100000000000000000000.0");
  EXPECT_EQ(render("{{ 'n=' ~ 2.0 }} {{ 'n=' + 2.5 }}"), "n=2 n=2.5");  // concatenation uses JS String()
}

TEST(Jinja, ComparisonAndLogic) {
  EXPECT_EQ(render("{{ 1 == 1.0 }} {{ '1' == 1 }} {{ none == missing }} {{ 'a' != 'b' }}"), "true true true true");
  EXPECT_EQ(render("{{ 'b' in 'abc' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 3 not in [1] }} {{ 'x' in missing }}"),
            "true true true true false");
  EXPECT_EQ(render("{{ 0 or 'y' }} {{ 'x' and 0 }} {{ not [] }} {{ [] or {} }}"), "y 0 true {}");
  EXPECT_EQ(render("{{ 'a' if false else 'b' if true else 'c' }}"), "b");
}

TEST(Jinja, IndexingAndSlicing) {
  ordered_json v = {{"xs", {10, 20, 30, 40}}, {"s", "héllo"}, {"d", {{"k", {{"deep", "v"}}}}}};
  EXPECT_EQ(render("{{ xs[0] }} {{ xs[-1] }} {{ xs[1:3] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[9] }}", v),
            "10 40 [20, 30] [40, 30, 20, 10] [10, 30] ");
  EXPECT_EQ(render("{{ s[1] }} {{ s[1:3] }} {{ s | length }} {{ s[::-1] }}", v), "é él 5 olléh");
  EXPECT_EQ(render("{{ d.k.deep }} {{ d['k']['deep'] }} {{ d.nope.deeper }}", v), "v v ");
}

TEST(Jinja, ForLoops) {
  ordered_json v = {{"xs", {"a", "b", "c"}}};
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}"
                   "{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ x }};{% endfor %}",
                   v),
            "1032truefalse3a;2121falsefalse3b;3210falsetrue3c;");
  EXPECT_EQ(render("{% for x in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}{{ v }}{% endfor %}"), "a1b2");
  EXPECT_EQ(render("{% for x in [1, 2, 3, 4] if x is even %}{{ x }}{{ loop.index }}{% endfor %}"), "2142");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{% if x == 2 %}{% break %}{% endif %}{{ x }}{% endfor %}"), "1");
  EXPECT_EQ(render("{% for x in [1, 2, 3] %}{% if x == 2 %}{% continue %}{% endif %}{{ x }}{% endfor %}"), "13");
  EXPECT_EQ(render("{% set x = 'outer' %}{% for i in [1] %}{% set x = 'inner' %}{% endfor %}{{ x }}"), "outer");
}

TEST(Jinja, SetNamespaceAndMacros) {
  EXPECT_EQ(render("{% set a, b = 1, 2 %}{{ a }}{{ b }}{% set t %}[{{ a }}]{% endset %}{{ t }}"), "12[1]");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in [1, 2, 3] %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_EQ(render("{% macro m(a, b='d') %}{{ a }}-{{ b }}{% endmacro %}{{ m(1) }} {{ m(1, 2) }} {{ m(b=3, a=4) }}"),
            "1-d 1-2 4-3");
  EXPECT_EQ(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}"), "321");
  EXPECT_EQ(render("{% macro w() %}({{ caller() }}){% endmacro %}{% call w() %}body{% endcall %}"), "(body)");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
}

TEST(Jinja, Filters) {
  ordered_json v = {{"people", {{{"n", "x"}, {"ok", true}}, {{"n", "y"}, {"ok", false}}}}};
  EXPECT_EQ(render("{{ '  a b  ' | trim }}|{{ 'Ab' | upper }}{{ 'Ab' | lower }}|{{ 'ab cd' | title }}|{{ 'ab' | capitalize }}"),
            "a b|ABab|Ab Cd|Ab");
  EXPECT_EQ(render("{{ [1, 2] | join('-') }} {{ [3, 1, 2] | sort }} {{ [1, 2] | first }}{{ [1, 2] | last }} {{ [1, 2] | length }}"),
            "1-2 [1, 2, 3] 12 2");
  EXPECT_EQ(render("{{ missing | default('d') }} {{ '' | default('d') }} {{ '' | default('d', true) }}"), "d  d");
  EXPECT_EQ(render("{{ '12' | int + 1 }} {{ '2.5' | float }} {{ 3.9 | int }} {{ -3 | abs }} {{ 7 | string }}"), "13 2.5 3 3 7");
  EXPECT_EQ(render("{{ people | selectattr('ok') | map(attribute='n') | join }}{{ people | rejectattr('ok') | map(attribute='n') | join }}",
                   v),
            "xy");
  EXPECT_EQ(render("{{ 'a-b' | replace('-', '+') }} {{ 'x\ny' | indent(2) }} {{ [1, 1, 2] | unique }}"), "a+b x\n  y [1, 2]");
  EXPECT_EQ(render("{{ {'b': [1, 'é'], 'a': none} | tojson }}"), "{\"b\": [1, \"é\"], \"a\": null}");
  EXPECT_EQ(render("{{ {'a': [1]} | tojson(indent=2) }}"), "{\n  \"a\": [\n    1\n  ]\n}");
  EXPECT_EQ(render("{{ 'é' | tojson(ensure_ascii=true) }}"), "\"\\u00e9\"");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | dictsort }} {{ {'a': 1} | items }}"), "[[\"a\", 2], [\"b\", 1]] [[\"a\", 1]]");
}

TEST(Jinja, Tests) {
  EXPECT_EQ(render("{{ x is defined }}{{ x is undefined }}{{ none is none }}{{ 'a' is string }}{{ 1 is number }}"
                   "{{ 1.5 is integer }}{{ [1] is iterable }}{{ {} is mapping }}{{ 'a' is sequence }}{{ 3 is odd }}"
                   "{{ 4 is even }}{{ true is boolean }}{{ 1 is not none }}"),
            "falsetruetruetruetruefalsetruetruetruetruetruetruetrue");
}

TEST(Jinja, StringAndDictMethods) {
  EXPECT_EQ(render("{{ ' a '.strip() }}|{{ 'ab'.upper() }}|{{ 'a,b'.split(',') }}|{{ 'a b  c'.split() }}|{{ 'abc'.startswith('ab') }}"
                   "|{{ 'abc'.endswith(('x', 'c')) }}|{{ 'aa'.replace('a', 'b') }}"),
            "a|AB|[\"a\", \"b\"]|[\"a\", \"b\", \"c\"]|true|true|bb");
  EXPECT_EQ(render("{{ d.get('a') }} {{ d.get('z', 0) }} {{ d.keys() }} {{ d.values() }}", {{"d", {{"a", 1}}}}), "1 0 [\"a\"] [1]");
}

TEST(Jinja, InputsKeepKeyOrderAndIntegralNumbers) {
  ordered_json d = ordered_json::parse(R"({"zeta": 1, "alpha": 2.0, "10": 3, "2": 4})");
  // JS orders array-index keys first; 2.0 arrives as the integer 2 (JSON.parse has one number type).
  EXPECT_EQ(render("{{ d | tojson }}", {{"d", d}}), "{\"2\": 4, \"10\": 3, \"zeta\": 1, \"alpha\": 2}");
}

TEST(Jinja, ChatTemplateInputs) {
  ChatTemplate t(llmr::builtin_chat_template("chatml"));
  llmr::ChatTemplateInputs in;
  std::string w = random_word();
  in.messages = ordered_json::array({{{"role", "user"}, {"content", w}}});
  EXPECT_EQ(t.render(in), "<|im_start|>user\n" + w + "<|im_end|>\n");
  in.add_generation_prompt = true;
  EXPECT_EQ(t.render(in), "<|im_start|>user\n" + w + "<|im_end|>\n<|im_start|>assistant\n");
  ChatTemplate l2(llmr::builtin_chat_template("llama2"));
  in.messages = ordered_json::array({{{"role", "system"}, {"content", "S"}}, {{"role", "user"}, {"content", " hi "}}});
  in.bos_token = "<s>";
  EXPECT_EQ(l2.render(in), "<s>[INST] <<SYS>>\nS\n<</SYS>>\n\n hi [/INST]");
  EXPECT_THROW(llmr::builtin_chat_template("nope"), llmr::Error);
}

TEST(JinjaErrors, SyntaxErrorsNameTheLineAndConstruct) {
  auto parse_error = [](const std::string& src) {
    try {
      ChatTemplate t(src);
    } catch (const llmr::Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(parse_error("a\nb\n{% if x %}\nno end").find("line 3"), std::string::npos);
  EXPECT_NE(parse_error("a\nb\n{% if x %}\nno end").find("endif"), std::string::npos);
  EXPECT_NE(parse_error("\n\n{{ x + }}").find("line 3"), std::string::npos);
  EXPECT_NE(parse_error("x\n{% frobnicate %}").find("frobnicate"), std::string::npos);
  EXPECT_NE(parse_error("x\n{% frobnicate %}").find("line 2"), std::string::npos);
  EXPECT_NE(parse_error("{{ 'never closed }}").find("string literal"), std::string::npos);
  EXPECT_NE(parse_error("{# open comment").find("comment"), std::string::npos);
  EXPECT_NE(parse_error("{{ a @ b }}").find("'@'"), std::string::npos);
  EXPECT_NE(parse_error("{{ 1 is divisibleby(3) }}"), "(no error)");
  EXPECT_NE(parse_error(std::string("{{ '\xff' }}")).find("UTF-8"), std::string::npos);
}

TEST(JinjaErrors, RuntimeErrorsNameTheLine) {
  EXPECT_NE(error_of("ok\n{{ raise_exception('custom message') }}").find("custom message"), std::string::npos);
  EXPECT_NE(error_of("ok\n{{ raise_exception('custom message') }}").find("line 2"), std::string::npos);
  EXPECT_NE(error_of("\n\n\n{{ [1] | nosuchfilter }}").find("line 4"), std::string::npos);
  EXPECT_NE(error_of("{{ x ~ 'a' }}").find("undefined"), std::string::npos);
  EXPECT_NE(error_of("{{ 'a' < 'b' }}"), "(no error)");
  EXPECT_NE(error_of("{% for x in 3 %}{% endfor %}"), "(no error)");
  EXPECT_NE(error_of("{% break %}"), "(no error)");
  EXPECT_NE(error_of("{{ true }}", {{"true", 1}}).find("already declared"), std::string::npos);
}

TEST(JinjaLimits, HostileTemplatesStop) {
  llmr::ChatTemplateLimits small;
  small.max_steps = 100000;
  small.max_bytes = 1 << 20;
  small.max_depth = 64;
  EXPECT_NE(error_of("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}", ordered_json::object(), small).find("deeper"), std::string::npos);
  EXPECT_NE(error_of("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", ordered_json::object(), small)
                .find("step limit"),
            std::string::npos);
  EXPECT_NE(error_of("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}", ordered_json::object(), small)
                .find("limit"),
            std::string::npos);
  EXPECT_NE(error_of("{{ range(1000000000) | length }}"), "(no error)");
  EXPECT_NE(error_of("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns | tojson }}"), "(no error)");
  std::string deep(5000, '(');
  EXPECT_THROW(ChatTemplate("{{ " + deep + "1" + std::string(5000, ')') + " }}"), llmr::Error);
  std::string nested;
  for (int i = 0; i < 1000; ++i) nested += "{% if true %}";
  EXPECT_THROW(ChatTemplate{nested}, llmr::Error);
}

}  // namespace
