// fpokit's Jinja engine against jinja2 as transformers runs it. The golden cases come from
// tests/fixtures/generate_chat_templates.py (real chat templates rendered by
// tokenizer.apply_chat_template); the language cases below were each rendered with jinja2 3.1.6 in
// HF's environment (transformers.utils.chat_template_utils._compile_jinja_template) and their
// outputs pasted here.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "fpokit/core/errors.h"
#include "fpokit/lm/chat/jinja_template.h"

using fpokit::ConfigError;
using fpokit::InputError;
using fpokit::lm::JinjaTemplate;
using ordered_json = nlohmann::ordered_json;

namespace {

ordered_json read_fixture() {
  const std::string path = FPOKIT_FIXTURES_DIR "/chat_templates/chat_templates.json";
  std::ifstream in(path);
  REQUIRE(in.good());
  return ordered_json::parse(in);
}

// The context apply_chat_template hands the template: special tokens, then kwargs over them, then
// messages (null-valued keys dropped), tools, documents and add_generation_prompt.
ordered_json hf_context(const ordered_json& special_tokens, const ordered_json& test_case) {
  ordered_json context = special_tokens;
  for (const auto& [key, value] : test_case["kwargs"].items()) context[key] = value;
  ordered_json messages = ordered_json::array();
  for (const auto& message : test_case["messages"]) {
    ordered_json kept = ordered_json::object();
    for (const auto& [key, value] : message.items()) {
      if (!value.is_null()) kept[key] = value;
    }
    messages.push_back(kept);
  }
  context["messages"] = messages;
  context["tools"] = test_case.value("tools", ordered_json());
  context["documents"] = nullptr;
  context["add_generation_prompt"] = test_case["add_generation_prompt"];
  return context;
}

std::string render(std::string_view source, const ordered_json& context = ordered_json::object()) {
  return JinjaTemplate::parse(source, "test.jinja").render(context);
}

std::string config_error(std::string_view source) {
  try {
    (void)JinjaTemplate::parse(source, "bad.jinja");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

std::string render_error(std::string_view source, const ordered_json& context = ordered_json::object()) {
  const JinjaTemplate t = JinjaTemplate::parse(source, "run.jinja");
  try {
    (void)t.render(context);
  } catch (const ConfigError& e) {
    return std::string("(ConfigError) ") + e.what();
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST_CASE("real chat templates render byte for byte as transformers' apply_chat_template", "[chat_template][jinja]") {
  const ordered_json fixture = read_fixture();
  int cases = 0;
  for (const auto& entry : fixture["templates"]) {
    const std::string name = entry["name"];
    const JinjaTemplate tmpl = JinjaTemplate::parse(entry["template"].get<std::string>(), name + ".jinja");
    for (const auto& test_case : entry["cases"]) {
      ++cases;
      const std::string case_name = test_case["name"];
      INFO(name << " / " << case_name);
      const ordered_json context = hf_context(entry["special_tokens"], test_case);
      if (test_case.contains("expected_text")) {
        CHECK(tmpl.render(context) == test_case["expected_text"].get<std::string>());
      } else {
        const std::string expected = test_case["expected_error"];
        try {
          (void)tmpl.render(context);
          FAIL("rendered without raising '" << expected << "'");
        } catch (const ConfigError& e) {
          FAIL("a ConfigError at render time: " << e.what());
        } catch (const InputError& e) {
          CHECK_THAT(e.what(),
                     Catch::StartsWith(name + ".jinja:") && Catch::EndsWith("the chat template raised: " + expected));
        }
      }
    }
  }
  CHECK(cases >= 100);
}

TEST_CASE("JinjaTemplate copies share the parsed template", "[chat_template][jinja]") {
  const JinjaTemplate a = JinjaTemplate::parse("{{ x }}!", "copy.jinja");
  const JinjaTemplate b = a;
  CHECK(b.render(ordered_json{{"x", 1}}) == "1!");
  CHECK(b.source_name() == "copy.jinja");
  CHECK(a.render(nlohmann::json{{"x", "y"}}) == "y!");
}

namespace {

struct LanguageCase {
  const char* source;
  const char* context;  // JSON
  const char* expected;
};

// Template, context, and what jinja2 3.1.6 rendered under HF's settings (trim_blocks, lstrip_blocks,
// loopcontrols, HF's tojson). Grouped: whitespace control, loops, set/namespace, if, filters, tests,
// operators, subscripts, str/dict methods, literals and printing, macros, generation and globals.
const LanguageCase kLanguageCases[] = {
    {R"J(a  {%- if true %} b {% endif -%}  c)J", R"J({})J", R"J(a b c)J"},
    {R"J(line1
    {% if true %}
    inner
    {% endif %}
line2
)J",
     R"J({})J",
     R"J(line1
    inner
line2)J"},
    {R"J(  {% if true %}x{% endif %}  
{{ 'y' }})J",
     R"J({})J",
     R"J(x  
y)J"},
    {R"J(a
  {%+ if true %}b{% endif %}
c)J",
     R"J({})J",
     R"J(a
  bc)J"},
    {R"J({% if true +%}
kept newline{% endif %})J",
     R"J({})J",
     R"J(
kept newline)J"},
    {R"J(text {# comment #}
after
  {#- trimmed -#}  end)J",
     R"J({})J", R"J(text afterend)J"},
    {R"J({{ 'a' }}
{{ 'b' }}
)J",
     R"J({})J",
     R"J(a
b)J"},
    {R"J(x  {{- 'y' -}}  
 z)J",
     R"J({})J", R"J(xyz)J"},
    {R"J({% raw %}{{ not evaluated }}{% endraw %}|  {%- raw -%}  {% x %}  {%- endraw %}|)J", R"J({})J",
     R"J({{ not evaluated }}|{% x %}|)J"},
    {R"J({% for m in ['a', 'b'] %}
  {{ m }}
{% endfor %}
)J",
     R"J({})J",
     R"J(  a
  b
)J"},
    {"a\x0d"
     "\nb\x0d"
     "{{ 1 }}\n\n",
     R"J({})J",
     R"J(a
b
1
)J"},
    {R"J({% for x in items %}{{ loop.index }}{{ loop.index0 }}{{ loop.revindex }}{{ loop.revindex0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %})J",
     R"J({"items": ["a", "b", "c"]})J", R"J(1032TrueFalse3;2121FalseFalse3;3210FalseTrue3;)J"},
    {R"J({% for x in [1, 2, 3] %}{{ loop.previtem }}<{{ x }}>{{ loop.nextitem }}{{ loop.cycle('odd', 'even') }}|{% endfor %})J",
     R"J({})J", R"J(<1>2odd|1<2>3even|2<3>odd|)J"},
    {R"J({% for k, v in d.items() %}{{ k }}={{ v }},{% endfor %}|{% for k in d %}{{ k }}{% endfor %}|{% for k, v in d|items %}{{ k }}{{ v }}{% endfor %})J",
     R"J({"d": {"z": 1, "a": [2], "m": null}})J", R"J(z=1,a=[2],m=None,|zam|z1a[2]mNone)J"},
    {R"J({% for x in range(10) %}{% if x is even %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %})J",
     R"J({})J", R"J(135)J"},
    {R"J({% for x in [1, 2, 3, 4] if x is odd %}{{ x }}/{{ loop.length }} {% endfor %})J", R"J({})J", R"J(1/2 3/2 )J"},
    {R"J({% for x in [] %}item{% else %}empty{% endfor %}{% for x in missing %}item{% else %}undefined iterates as empty{% endfor %})J",
     R"J({})J", R"J(emptyundefined iterates as empty)J"},
    {R"J({% for a, b in [[1, 2], [3, 4]] %}{{ a + b }}{% endfor %})J", R"J({})J", R"J(37)J"},
    {R"J({% for row in [[1, 2], [3]] %}{% for x in row %}{{ loop.index }}{{ x }}{% endfor %}{{ loop.index }};{% endfor %})J",
     R"J({})J", R"J(11221;132;)J"},
    {R"J({% set x = 5 %}{% for i in [1, 2] %}[{{ x }}]{% set x = x + i %}{{ x }}{% endfor %}{{ x }})J", R"J({})J",
     R"J([5]6[5]75)J"},
    {R"J({% set ns = namespace(count=0, found=false) %}{% for m in messages %}{% if m.role == 'user' %}{% set ns.count = ns.count + 1 %}{% set ns.found = true %}{% endif %}{% endfor %}{{ ns.count }} {{ ns.found }})J",
     R"J({"messages": [{"role": "user"}, {"role": "assistant"}, {"role": "user"}]})J", R"J(2 True)J"},
    {R"J({% set a, b = 1, 'two' %}{{ a }}{{ b }}{% set t = (1, 2) %}{{ t }})J", R"J({})J", R"J(1two(1, 2))J"},
    {R"J({% set block %}
  Hello {{ name }}!
{% endset %}[{{ block }}]{% set shout | upper | trim %} quiet {% endset %}[{{ shout }}])J",
     R"J({"name": "Ana"})J",
     R"J([  Hello Ana!
][QUIET])J"},
    {R"J({% if x == 1 %}one{% elif x == 2 %}two{% elif x == 3 %}three{% else %}many{% endif %})J", R"J({"x": 3})J",
     R"J(three)J"},
    {R"J({% if x %}set{% else %}unset{% endif %}|{% if not y %}falsy{% endif %})J", R"J({"x": [0], "y": ""})J",
     R"J(set|falsy)J"},
    {R"J([{{ '  a b 
' | trim }}][{{ 'xxhixx' | trim('x') }}][{{ s | trim }}])J",
     R"J({"s": "  nbsp 　"})J", R"J([a b][hi][nbsp])J"},
    {R"J({{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ d | tojson(separators=(',', ':')) }}|{{ d | tojson(sort_keys=true) }})J",
     R"J({"d": {"b": [1, 2.5, null, true], "a": "é \"q\" \n\t\u0001 中文 🎉", "c": {}, "e": []}})J",
     R"J({"b": [1, 2.5, null, true], "a": "é \"q\" \n\t\u0001 中文 🎉", "c": {}, "e": []}|{
  "b": [
    1,
    2.5,
    null,
    true
  ],
  "a": "é \"q\" \n\t\u0001 中文 🎉",
  "c": {},
  "e": []
}|{"b":[1,2.5,null,true],"a":"é \"q\" \n\t\u0001 中文 🎉","c":{},"e":[]}|{"a": "é \"q\" \n\t\u0001 中文 🎉", "b": [1, 2.5, null, true], "c": {}, "e": []})J"},
    {"{{ 'é😀' | tojson(ensure_ascii=true) }}|{{ [1, 'x'] | tojson(indent='\x09"
     "') }}|{{ 1e20 | tojson }} {{ 0.1 | tojson }} {{ -0.0 | tojson }}",
     R"J({})J",
     "\"\\u00e9\\ud83d\\ude00\"|[\n\x09"
     "1,\n\x09"
     "\"x\"\n]|1e+20 0.1 -0.0"},
    {R"J({{ 'héllo' | length }} {{ [1, 2] | length }} {{ {'a': 1} | length }} {{ missing | length }} {{ [1, 2] | count }})J",
     R"J({})J", R"J(5 2 1 0 2)J"},
    {R"J({{ [1, 2, 3] | first }} {{ [1, 2, 3] | last }} {{ 'añb' | first }}{{ 'añb' | last }} [{{ [] | first }}])J",
     R"J({})J", R"J(1 3 ab [])J"},
    {R"J({{ 'Hello wORLD' | upper }} {{ 'Hello wORLD' | lower }} {{ 'hello wORLD' | capitalize }} {{ 'hello-world (foo) [bar]' | title }} {{ 'ÉCOLE' | lower }})J",
     R"J({})J", R"J(HELLO WORLD hello world Hello world Hello-World (Foo) [Bar] école)J"},
    {R"J({{ 'a-b-c' | replace('-', '+') }} {{ 'a-b-c' | replace('-', '', 1) }} {{ 'abc' | replace('', '.') }})J",
     R"J({})J", R"J(a+b+c ab-c .a.b.c.)J"},
    {R"J({{ ['a', 'b', 'c'] | join(', ') }} {{ [1, 2] | join }} {{ users | join(',', attribute='name') }})J",
     R"J({"users": [{"name": "x"}, {"name": "y"}]})J", R"J(a, b, c 12 x,y)J"},
    {R"J({{ missing | default('dflt') }} {{ none | default('dflt') }} {{ '' | default('dflt', true) }} {{ 'set' | d('no') }})J",
     R"J({})J", R"J(dflt None dflt set)J"},
    {R"J({{ 'abc' | list }} {{ {'k': 1, 'j': 2} | list }} {{ 12 | string }}{{ none | string }} {{ '42' | int + 1 }} {{ '3.9' | int }} {{ 'x' | int }} {{ 'x' | int(-1) }} {{ 3.9 | int }} {{ '2.5' | float }})J",
     R"J({})J", R"J(['a', 'b', 'c'] ['k', 'j'] 12None 43 3 0 -1 3 2.5)J"},
    {R"J({{ messages | selectattr('role', 'equalto', 'user') | map(attribute='content') | list }} {{ messages | rejectattr('role', 'eq', 'user') | list | length }} {{ messages | selectattr('tool') | list | length }})J",
     R"J({"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b", "tool": true}, {"role": "user", "content": "c"}]})J",
     R"J(['a', 'c'] 1 1)J"},
    {R"J({{ [3, 1, 2] | sort | list }} {{ ['b', 'A', 'c'] | sort }} {{ ['b', 'A', 'c'] | sort(case_sensitive=true) }} {{ [3, 1, 2] | sort(reverse=true) }} {{ people | sort(attribute='age') | map(attribute='n') | join }})J",
     R"J({"people": [{"n": "x", "age": 30}, {"n": "y", "age": 20}]})J",
     R"J([1, 2, 3] ['A', 'b', 'c'] ['A', 'b', 'c'] [3, 2, 1] yx)J"},
    {R"J({{ [1, 2, 3] | reverse | list }} {{ 'añb' | reverse }} {{ {'a': 1, 'b': [2]} | items | list }})J", R"J({})J",
     R"J([3, 2, 1] bña [('a', 1), ('b', [2])])J"},
    {R"J({{ 'a
b

c' | indent }}|{{ 'a
b' | indent(2, true) }}|{{ 'a

b' | indent(2, blank=true) }}|{{ 'x
y' | indent('> ') }})J",
     R"J({})J",
     R"J(a
    b

    c|  a
  b|a
  
  b|x
> y)J"},
    {R"J({{ [1, 0, 2, none, ''] | select | list }} {{ [1, 2, 3, 4] | reject('odd') | list }} {{ [1, 2, 3] | map('string') | join('-') }} {{ [-1, 2] | map('abs') | list }})J",
     R"J({})J", R"J([1, 2] [2, 4] 1-2-3 [1, 2])J"},
    {R"J({{ '<a href="x">&</a>' | e }}|{{ 'x' | safe }})J", R"J({})J",
     R"J(&lt;a href=&#34;x&#34;&gt;&amp;&lt;/a&gt;|x)J"},
    {R"J({% filter upper %}shout {{ 'this' }}{% endfilter %})J", R"J({})J", R"J(SHOUT THIS)J"},
    {R"J({{ x is defined }} {{ y is defined }} {{ y is undefined }} {{ n is none }} {{ x is none }} {{ 'a' is string }} {{ 1 is string }})J",
     R"J({"x": 1, "n": null})J", R"J(True False True True False True False)J"},
    {R"J({{ d is mapping }} {{ l is mapping }} {{ l is sequence }} {{ 'ab' is sequence }} {{ d is iterable }} {{ 1 is iterable }} {{ missing is iterable }})J",
     R"J({"d": {}, "l": []})J", R"J(True False True True True False True)J"},
    {R"J({{ 1 is number }} {{ 1.5 is number }} {{ true is number }} {{ 'x' is number }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ 1 is boolean }})J",
     R"J({})J", R"J(True True True False True True True False)J"},
    {R"J({{ true is true }} {{ 1 is true }} {{ false is false }} {{ 0 is false }} {{ 3 is odd }} {{ 3 is even }} {{ 4 is divisibleby 2 }} {{ 'a' is equalto 'a' }} {{ 1 is eq 1.0 }} {{ 1 is ne 2 }} {{ 'b' is in 'abc' }} {{ 5 is gt 3 }} {{ 5 is lt(3) }})J",
     R"J({})J", R"J(True False True False True False True True True True True True False)J"},
    {R"J({{ 'abc' is lower }} {{ 'ABC' is upper }} {{ 'aBc' is lower }} {{ x is not none }} {{ x is not string }})J",
     R"J({"x": null})J", R"J(True True False False True)J"},
    {R"J({{ 'a' in 'cat' }} {{ 'z' not in 'cat' }} {{ 2 in [1, 2] }} {{ 'k' in {'k': 1} }} {{ 'v' in {'k': 'v'} }} {{ 3 not in [1] }})J",
     R"J({})J", R"J(True True True True False True)J"},
    {R"J({{ 1 + 2 }} {{ 1 + 2.0 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7.5 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 7 % -3 }} {{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 * 3 }} {{ 1 - 0.5 }} {{ -x }} {{ +x }})J",
     R"J({"x": 4})J", R"J(3 3.0 3.5 2.0 3 -4 3.0 1 2 -2 1024 0.5 6 0.5 -4 4)J"},
    {R"J({{ 'ab' ~ 1 ~ none ~ missing ~ true }} {{ 'ab' + 'cd' }} {{ 'ab' * 2 }} {{ [1] + [2, 3] }} {{ [0] * 3 }} {{ (1,) + (2,) }})J",
     R"J({})J", R"J(ab1NoneTrue abcd abab [1, 2, 3] [0, 0, 0] (1, 2))J"},
    {R"J({{ 1 < 2 < 3 }} {{ 3 > 2 > 2 }} {{ 1 <= 1 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 1 == 1.0 }} {{ true == 1 }} {{ 'a' != 'a' }} {{ [1, 'x'] == [1, 'x'] }} {{ {'a': 1} == {'a': 1} }})J",
     R"J({})J", R"J(True False True True True True True False True True)J"},
    {R"J({{ 1 and 'x' }} {{ 0 and 'x' }} {{ '' or 'fallback' }} {{ 'first' or 'second' }} {{ not none }} {{ none or [] }})J",
     R"J({})J", R"J(x 0 fallback first True [])J"},
    {R"J({{ 'yes' if x else 'no' }} {{ 'yes' if not x else 'no' }} [{{ 'only' if false }}] {{ 1 if false else 2 if true else 3 }})J",
     R"J({"x": true})J", R"J(yes no [] 2)J"},
    {R"J({{ 2 + 3 * 4 }} {{ (2 + 3) * 4 }} {{ -2 ** 2 }} {{ 2 ** 3 ** 2 }} {{ 10 - 2 - 3 }} {{ 1 ~ 2 + 'x' }} {{ not 1 == 2 }} {{ -3 | abs }} {{ 'a' ~ 'b' | upper }})J",
     R"J({})J", R"J(14 20 4 64 5 12x True 3 aB)J"},
    {R"J({{ s[0] }}{{ s[-1] }}{{ s[1:3] }}|{{ s[::-1] }}|{{ s[::2] }}|{{ s[-2:] }}|{{ s[:100] }}|{{ l[1:] }} {{ l[::-1] }} {{ l[-2:-1] }} {{ l[5:] }} {{ l[1] }} [{{ l[10] }}])J",
     R"J({"s": "héllo🎉", "l": [1, 2, 3]})J", R"J(h🎉él|🎉olléh|hlo|o🎉|héllo🎉|[2, 3] [3, 2, 1] [2] [] 2 [])J"},
    {R"J({{ m.role }} {{ m['content'] }} {{ m.missing }}|{{ m.get('role') }} {{ m.get('missing') }} {{ m.get('missing', 'dflt') }} {{ m.keys() | list }} {{ m.values() | list }} {{ m.items() | list }} {{ l.0 }})J",
     R"J({"m": {"role": "user", "content": "hi"}, "l": ["zero"]})J",
     R"J(user hi |user None dflt ['role', 'content'] ['user', 'hi'] [('role', 'user'), ('content', 'hi')] zero)J"},
    {R"J([{{ s.strip() }}][{{ s.lstrip() }}][{{ s.rstrip() }}][{{ 'xxaxx'.strip('x') }}])J",
     R"J({"s": "  \n pad \t "})J",
     "[pad][pad \x09"
     " ][  \n pad][a]"},
    {R"J({{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ ' x '.split(' ') }})J",
     R"J({})J", R"J(['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['', 'x', ''])J"},
    {R"J({{ 'hello'.startswith('he') }} {{ 'hello'.endswith('lo') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'Hello World'.upper() }} {{ 'Hello World'.lower() }} {{ "they're bill's".title() }} {{ 'hello WORLD'.capitalize() }})J",
     R"J({})J", R"J(True True True HELLO WORLD hello world They'Re Bill'S Hello world)J"},
    {R"J({{ 'a-b-c'.replace('-', '+') }} {{ 'a-b-c'.replace('-', '+', 1) }} {{ ', '.join(['x', 'y']) }} {{ 'héllo'.find('l') }} {{ 'banana'.count('a') }})J",
     R"J({})J", R"J(a+b+c a+b-c x, y 2 3)J"},
    {R"J({{ none }} {{ None }} {{ true }} {{ False }} {{ 42 }} {{ -3 }} {{ 1.0 }} {{ 2.50 }} {{ 1e3 }} {{ 1e16 }} {{ 1.5e-5 }} {{ 0.1 + 0.2 }} {{ 1_000 }})J",
     R"J({})J", R"J(None None True False 42 -3 1.0 2.5 1000.0 1e+16 1.5e-05 0.30000000000000004 1000)J"},
    {"{{ [1, 'a', none, true, 2.5, [], {}] }} {{ {'k': 'v', 'n': none, 'l': [1]} }} {{ ('a',) }} {{ (1, 2) }} {{ () }} "
     "{{ missing }}|{{ [\"it's\", 'say \"hi\"', 'new\nline', 'tab\x09"
     "', 'back\\\\slash'] }}",
     R"J({})J",
     R"J([1, 'a', None, True, 2.5, [], {}] {'k': 'v', 'n': None, 'l': [1]} ('a',) (1, 2) () |["it's", 'say "hi"', 'new\nline', 'tab\t', 'back\\slash'])J"},
    {R"J({{ '\x41\u00e9\U0001F600\101\q' }})J", R"J({})J", R"J(Aé😀A\q)J"},
    {R"J({{ "double" }} {{ 'single' }} {{ 'esc\'aped' }} {{ "tab\tnew\nline" }} {{ 'uni\u00e9' }} {{ 'a' 'b' }} {{ '{{ not }}' }})J",
     R"J({})J",
     "double single esc'aped tab\x09"
     "new\nline unié ab {{ not }}"},
    {R"J({{ d }} {{ d.a }})J", R"J({"d": {"a": 1.5, "b": [true, null], "c": "x"}})J",
     R"J({'a': 1.5, 'b': [True, None], 'c': 'x'} 1.5)J"},
    {R"J({% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', '?') }} {{ greet(name='Cy', punct='.') }} [{{ greet() }}])J",
     R"J({})J", R"J(Hi Ann! Hi Bob? Hi Cy. [Hi !])J"},
    {R"J({% macro render(m) -%}
  <{{ m.role }}>{{ m.content | trim }}
{%- endmacro %}{% for m in messages %}{{ render(m) }}{% endfor %})J",
     R"J({"messages": [{"role": "user", "content": " a "}, {"role": "bot", "content": "b\n"}]})J",
     R"J(<user>a<bot>b)J"},
    {R"J({% set prefix = '>' %}{% macro p(x) %}{{ prefix }}{{ x }}{% endmacro %}{{ p(1) }})J", R"J({})J", R"J(>1)J"},
    {R"J({% for m in messages %}{% if m.role == 'assistant' %}{% generation %}{{ m.content }}{% endgeneration %}{% else %}{{ m.content }}{% endif %}|{% endfor %})J",
     R"J({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]})J", R"J(q|a|)J"},
    {R"J({{ range(3) | list }} {{ range(1, 7, 2) | list }} {{ dict(a=1, b='x') }} {{ namespace(a=1).a }})J", R"J({})J",
     R"J([0, 1, 2] [1, 3, 5] {'a': 1, 'b': 'x'} 1)J"},
    {R"J({{ bos_token }}{% for message in messages %}{{ message['role'] + ': ' + message['content'] | trim }}
{% endfor %}{% if add_generation_prompt %}assistant:{% endif %})J",
     R"J({"bos_token": "<s>", "messages": [{"role": "user", "content": " hi "}], "add_generation_prompt": true})J",
     R"J(<s>user: hi
assistant:)J"},
};

}  // namespace

TEST_CASE("the Jinja language renders as jinja2 does under HF's settings", "[chat_template][jinja]") {
  for (const LanguageCase& c : kLanguageCases) {
    INFO("template: " << c.source);
    CHECK(render(c.source, ordered_json::parse(c.context)) == c.expected);
  }
}

TEST_CASE("tools schemas keep their key order through tojson", "[chat_template][jinja]") {
  const ordered_json context =
      ordered_json::parse(R"({"tool": {"name": "f", "description": "d", "parameters": {"type": "object"}}})");
  CHECK(render("{{ tool | tojson }}", context) ==
        R"({"name": "f", "description": "d", "parameters": {"type": "object"}})");
  // nlohmann::json stores keys sorted, so the json overload sees them sorted.
  CHECK(JinjaTemplate::parse("{{ tool | tojson }}", "t").render(nlohmann::json(context)) ==
        R"({"description": "d", "name": "f", "parameters": {"type": "object"}})");
}

TEST_CASE("unsupported constructs are ConfigErrors naming the line and the construct", "[chat_template][jinja]") {
  CHECK_THAT(config_error("line one\n{% include 'other.jinja' %}"),
             Catch::Equals("bad.jinja:2: {% include %} is not supported"));
  CHECK_THAT(config_error("{% extends 'base.jinja' %}"), Catch::Equals("bad.jinja:1: {% extends %} is not supported"));
  CHECK_THAT(config_error("\n\n{% import 'macros.jinja' as m %}"),
             Catch::Equals("bad.jinja:3: {% import %} is not supported"));
  CHECK_THAT(config_error("{% from 'm.jinja' import x %}"), Catch::Equals("bad.jinja:1: {% from %} is not supported"));
  CHECK_THAT(config_error("{% call m() %}x{% endcall %}"), Catch::Equals("bad.jinja:1: {% call %} is not supported"));
  CHECK_THAT(config_error("a\n{{ x | frobnicate }}"), Catch::Equals("bad.jinja:2: unknown filter 'frobnicate'"));
  CHECK_THAT(config_error("{% if x is frobnicated %}{% endif %}"),
             Catch::Equals("bad.jinja:1: unknown test 'frobnicated'"));
  CHECK_THAT(config_error("{% frobnicate %}"), Catch::Equals("bad.jinja:1: unknown tag {% frobnicate %}"));
  CHECK_THAT(config_error("{% for x in xs recursive %}{% endfor %}"), Catch::Contains("bad.jinja:1: recursive"));
  CHECK_THAT(config_error("{{ f(*args) }}"), Catch::Contains("bad.jinja:1: *args and **kwargs"));
}

TEST_CASE("syntax errors are ConfigErrors with the template line", "[chat_template][jinja]") {
  CHECK_THAT(config_error("a\n{% for m in messages %}\n{{ m }}\n"),
             Catch::StartsWith("bad.jinja:2: the {% for %} block is never closed") && Catch::Contains("{% endfor %}"));
  CHECK_THAT(config_error("{% if x %}\n{% for y in z %}{% endif %}"),
             Catch::StartsWith("bad.jinja:2: unexpected {% endif %}"));
  CHECK_THAT(config_error("x\n{% endif %}"), Catch::StartsWith("bad.jinja:2: unexpected {% endif %}"));
  CHECK_THAT(config_error("{{ x "), Catch::StartsWith("bad.jinja:1: missing '}}'"));
  CHECK_THAT(config_error("\n{% if x %"), Catch::StartsWith("bad.jinja:2: missing '%}'"));
  CHECK_THAT(config_error("{# never closed"), Catch::StartsWith("bad.jinja:1: missing end of comment"));
  CHECK_THAT(config_error("{{ 'unterminated }}"), Catch::StartsWith("bad.jinja:1: unterminated string"));
  CHECK_THAT(config_error("{{ (1, 2 }}"), Catch::StartsWith("bad.jinja:1: unexpected '}'"));
  CHECK_THAT(config_error("{{ 1 + }}"), Catch::StartsWith("bad.jinja:1: unexpected '}}'"));
  CHECK_THAT(config_error("{% break %}"), Catch::Equals("bad.jinja:1: {% break %} outside of a for loop"));
  CHECK_THAT(config_error("{% raw %}never closed"), Catch::Contains("{% endraw %}"));
}

TEST_CASE("raise_exception and runtime errors are InputErrors naming the line", "[chat_template][jinja]") {
  CHECK(render_error("ok\n{{ raise_exception('Bad: ' ~ n) }}", {{"n", 3}}) ==
        "run.jinja:2: the chat template raised: Bad: 3");
  CHECK(render_error("{% if true %}\n\n  {{- raise_exception(\"Conversation roles must alternate\") }}{% endif %}") ==
        "run.jinja:3: the chat template raised: Conversation roles must alternate");
  CHECK(render_error("{{ m.a.b }}", {{"m", ordered_json::object()}}) ==
        "run.jinja:1: 'dict object' has no attribute 'a'");
  CHECK(render_error("\n{{ missing.x }}") == "run.jinja:2: 'missing' is undefined");
  CHECK(render_error("{{ 'a'.frobnicate() }}") == "run.jinja:1: 'str object' has no attribute 'frobnicate'");
  CHECK(render_error("{{ 'a' + 1 }}") == "run.jinja:1: can only concatenate str (not \"int\") to str");
  CHECK(render_error("{{ 1 < 'a' }}") == "run.jinja:1: '<' not supported between instances of 'int' and 'str'");
  CHECK(render_error("{{ 1 // 0 }}") == "run.jinja:1: integer division or modulo by zero");
  CHECK(render_error("{% set ns = namespace() %}{% set ns._x = 1 %}") ==
        "run.jinja:1: Chat templates cannot store underscore-prefixed attributes on a namespace, but got '_x'. "
        "Please rename the attribute.");
  CHECK(render_error("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}") ==
        "run.jinja:1: macro 'm' takes not more than 1 argument(s)");
  CHECK_THAT(render_error("{{ x | tojson }}", {{"x", 1}}), Catch::Equals("(no error)"));
  CHECK(render_error("{{ f | tojson }}") == "run.jinja:1: Object of type Undefined is not JSON serializable");
}

TEST_CASE("runaway templates stop with an error naming the line, not a crash or a hang", "[chat_template][jinja]") {
  // Thousands of nested brackets or blocks: a damaged or hostile template in a model directory.
  CHECK_THAT(config_error("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"),
             Catch::Contains("nested more than 256 deep"));
  std::string blocks;
  for (int i = 0; i < 400; ++i) blocks += "{% if true %}";
  CHECK_THAT(config_error(blocks), Catch::Contains("nested more than 256 deep"));
  // A macro calling itself.
  CHECK_THAT(render_error("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}\n{{ f(0) }}"),
             Catch::Contains("run.jinja:1") && Catch::Contains("calls nested more than 128 deep"));
  // A string doubled in a loop.
  CHECK_THAT(render_error("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s ~ ns.s %}"
                          "{% endfor %}{{ ns.s | length }}"),
             Catch::Contains("more than 64 MiB"));
  CHECK_THAT(render_error("{{ 'abc' * 100000000 }}"), Catch::Contains("more than 64 MiB"));
  // Loops that would run for hours.
  CHECK_THAT(render_error("{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}"),
             Catch::Contains("evaluation steps"));
  // Within the bounds, deep but legitimate nesting and recursion still work.
  CHECK(render("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(50) | length }}") ==
        "91");
}

TEST_CASE("integers at the int64 limits are errors or Python's results, never overflow", "[chat_template][jinja]") {
  const std::string min = "(-9223372036854775807 - 1)";
  CHECK_THAT(render_error("{{ -" + min + " }}"), Catch::Contains("integer overflow"));
  CHECK_THAT(render_error("{{ " + min + " // -1 }}"), Catch::Contains("integer overflow"));
  CHECK_THAT(render_error("{{ " + min + " % -1 }}"), Catch::Contains("integer overflow"));
  CHECK_THAT(render_error("{{ " + min + " | abs }}"), Catch::Contains("integer overflow"));
  // Ranges and slices whose next index would pass the int64 range end there, as in Python.
  CHECK(render("{{ range(9223372036854775806, 9223372036854775807, 5) | list }}") == "[9223372036854775806]");
  CHECK(render("{{ range(-9223372036854775807, " + min + ", -9) | list }}") == "[-9223372036854775807]");
  CHECK(render("{{ 'abcdef'[1::9223372036854775807] }}") == "b");
  CHECK(render("{{ 'abcdef'[::-9223372036854775807] }}") == "f");
}
