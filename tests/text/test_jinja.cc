// Unit tests of the Jinja interpreter. Every expected string here was produced by Python's
// jinja2 in transformers' environment (tools/template_reference.py's make_env).
#include <gtest/gtest.h>

#include "engine/text/jinja/builtins.h"
#include "engine/text/jinja/template.h"

namespace {

using ember::jinja::Template;
using ember::jinja::TemplateError;
using ember::jinja::Value;

std::string render(const std::string& src, const std::string& vars_json = "{}") {
  return Template(src).render(ember::jinja::from_json(vars_json));
}

// The bare message of the error a render raises ("" when it renders).
std::string error_of(const std::string& src, const std::string& vars_json = "{}") {
  try {
    render(src, vars_json);
  } catch (const TemplateError& e) {
    return e.message();
  }
  return "";
}

TEST(JinjaExpressions, LiteralsPrintLikePython) {
  EXPECT_EQ(render("{{ [1,2] }}{{ {'a': 1, 'b': [1.5, None, True]} }}{{ (1,) }}{{ 'it''s' }}{{ 1e20 }}{{ 1/3 }}{{ 10/2 }}"),
            "[1, 2]{'a': 1, 'b': [1.5, None, True]}(1,)its1e+200.33333333333333335.0");
  EXPECT_EQ(render("{{ 1.0 }}{{ 1e16 }}{{ 1.5e-5 }}{{ 0.0001 }}{{ 123456789012345678.0 }}{{ -0.0 }}"),
            "1.01e+161.5e-050.00011.2345678901234568e+17-0.0");
  EXPECT_EQ(render("{{ \"it's\" }}{{ ['it\\'s', \"d\\\"q\"] }}"), "it's[\"it's\", 'd\"q']");
  EXPECT_EQ(render("{{ '\\u00e9\\n\\t\\x41\\\\d' }}"), "\xC3\xA9\n\tA\\d");
}

TEST(JinjaExpressions, ArithmeticAndPrecedence) {
  EXPECT_EQ(render("{{ [1,2] + [3] }}{{ 1 + 2.0 }}{{ true + 1 }}{{ 5 - 2 }}{{ 2 * 3.0 }}{{ 10 % 3 }}{{ 2 ** -1 }}{{ 7 // 2.0 }}"),
            "[1, 2, 3]3.0236.010.53.0");

  EXPECT_EQ(render("{{ 3 // 2 }}{{ -3 // 2 }}{{ -3 % 2 }}{{ 2 ** 10 }}{{ 'a' * 3 }}{{ [1] * 2 }}"), "1-211024aaa[1, 1]");
  EXPECT_EQ(render("{{ 'x' ~ none ~ true ~ 1.0 }}"), "xNoneTrue1.0");
  EXPECT_EQ(render("{{ 1 < 2 < 3 }}{{ 'b' > 'a' }}{{ [1,2] == [1,2] }}{{ 1 in [1] }}{{ 'a' not in 'b' }}{{ 'k' in {'k':1} }}"),
            "TrueTrueTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ a or b }}|{{ 0 or 'x' }}|{{ 1 and 'y' }}|{{ none and 1 }}|{{ not none }}"), "|x|y|None|True");
  EXPECT_EQ(render("{{ 1 == 1.0 }}{{ true == 1 }}{{ x == x }}"), "TrueTrueTrue");
  // ~ binds tighter than +, so this is ('x' ~ 1) + 2.
  EXPECT_EQ(error_of("{{ 'x' ~ 1 + 2 }}"), "can only concatenate str (not \"int\") to str");
  EXPECT_EQ(render("{{ -1|abs }}{{ not 1 == 2 }}{{ 1 if 1 else 2 if 3 else 4 }}"), "1True1");
}

TEST(JinjaExpressions, AccessAndSlicing) {
  EXPECT_EQ(render("{{ 'abc'[::-1] }}{{ 'abc'[5:] }}{{ [1,2,3][-1] }}{{ [1,2,3][5] }}"), "cba3");
  EXPECT_EQ(render("{{ [1,2,3][1:] }}{{ [1,2,3][:-1] }}{{ 'abcdef'[1:5:2] }}{{ [1,2,3][::-1] }}"), "[2, 3][1, 2]bd[3, 2, 1]");
  EXPECT_EQ(render("{{ 'h\xC3\xA9llo'[1] }}{{ 'h\xC3\xA9llo'[1:3] }}"), "\xC3\xA9\xC3\xA9l");
  EXPECT_EQ(render("{{ {'a': {'b': 'c'}}.a.b }}{{ [[1]][0][0] }}{{ d.get('x', 'def') }}{{ d.get('y', 'def') }}", R"({"d": {"x": null}})"),
            "c1Nonedef");
  EXPECT_EQ(render("{{ none.y }}|{{ {}.y is defined }}"), "|False");
}

TEST(JinjaExpressions, StringMethods) {
  EXPECT_EQ(render("{{ 'a,b'.split(',') }}{{ ' a  b '.split() }}{{ 'a.b.c'.rsplit('.', 1) }}"), "['a', 'b']['a', 'b']['a.b', 'c']");
  EXPECT_EQ(render("{{ 'hello'.startswith(('x', 'h')) }}{{ '  x '.strip() }}{{ 'xxaxx'.strip('x') }}{{ 'ab'.endswith('b') }}"),
            "TruexaTrue");
  EXPECT_EQ(render("{{ 'abc'.find('c') }}{{ 'aXbX'.count('X') }}{{ 'A1'.isdigit() }}{{ '12'.isdigit() }}"), "22FalseTrue");
  EXPECT_EQ(render("{{ 'Hello World'.title() }}{{ 'a-b c'.title() }}{{ '%s-%d' % ('a', 3) }}{{ '{}-{}'.format(1, 'b') }}"),
            "Hello WorldA-B Ca-31-b");
}

TEST(JinjaFilters, CommonFilters) {
  EXPECT_EQ(render("{{ x|length }}{{ x|trim }}{{ x|upper }}"), "0");
  EXPECT_EQ(render("{{ [1,2,2,3] | unique | list }}{{ 'aXb' | lower }}{{ [1,2] | reverse | list }}{{ 'abc' | reverse }}"),
            "[1, 2, 3]axb[2, 1]cba");
  EXPECT_EQ(render("{{ true | string }}{{ none | string }}{{ [1] | first }}{{ [] | first }}{{ 'ab' | last }}"), "TrueNone1b");
  EXPECT_EQ(render("{{ ['a','b'] | map('upper') | list }}{{ [1,2,3] | select('odd') | list }}{{ [1,2,3] | reject('even') | list }}"),
            "['A', 'B'][1, 3][1, 3]");
  EXPECT_EQ(render("{{ 3.7 | int }}{{ '42' | int }}{{ 'x' | int }}{{ '3.5' | float }}{{ 2.5 | round }}{{ 3.14159 | round(2) }}"),
            "34203.52.03.14");
  EXPECT_EQ(render("{{ 'a b' | replace(' ', '_') }}{{ 'x' | center(5) }}|{{ [1,2,3] | sum }}{{ [[1,2],[3]] | batch(1) | list }}"),
            "a_b  x  |6[[[1, 2]], [[3]]]");
  EXPECT_EQ(render("{{ undefined_thing | default('d') }}{{ none | default('d') }}{{ none | default('d', true) }}"), "dNoned");
  EXPECT_EQ(render("{{ ['b','a']|sort }}{{ [3,1]|max }}{{ [{'a':2},{'a':1}]|sort(attribute='a') }}"),
            "['a', 'b']3[{'a': 1}, {'a': 2}]");
  EXPECT_EQ(render("{{ 'abc'|list }}{{ {'b':1,'a':2}|dictsort }}{{ [1,2,3]|join(',') }}{{ {'b': 1, 'a': 2} | items | list }}"),
            "['a', 'b', 'c'][('a', 2), ('b', 1)]1,2,3[('b', 1), ('a', 2)]");
  EXPECT_EQ(render("{{ 'abc' | indent(2) }}|{{ 'a\nb\n\nc' | indent(2) }}|{{ 'a\nb' | indent(2, true) }}|{{ 'a\nb' | indent(first=true, width='> ') }}"),
            "abc|a\n  b\n\n  c|  a\n  b|> a\n> b");
  EXPECT_EQ(render("{{ 'abc' | safe }}{{ '<' | escape }}{{ '<&\\'\"' | e }}"), "abc&lt;&lt;&amp;&#39;&#34;");
  // Markup + str escapes the str (functionary's template relies on it).
  EXPECT_EQ(render("{{ 'a'|safe + '<b>' }}{{ 'a'|safe ~ '<b>' }}"), "a&lt;b&gt;a<b>");
}

TEST(JinjaFilters, SelectAttrAndMap) {
  const char* vars = R"({"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]})";
  EXPECT_EQ(render("{{ messages | selectattr('role', 'equalto', 'user') | list | length }}"
                   "{{ messages | rejectattr('role', '==', 'user') | list | length }}"
                   "{{ messages | map(attribute='role') | join(',') }}",
                   vars),
            "11user,assistant");
  EXPECT_EQ(render("{{ none | selectattr('type') | list }}"), "[]");
  EXPECT_EQ(error_of("{{ messages | selectattr('role') | length }}", vars), "object of type 'generator' has no len()");
}

TEST(JinjaFilters, TojsonIsTransformersJsonDumps) {
  EXPECT_EQ(render("{{ {'a': none, 'b': 1.5, 'c': '\xC3\xA9\n\"', 'd': [true, false]} | tojson }}"),
            "{\"a\": null, \"b\": 1.5, \"c\": \"\xC3\xA9\\n\\\"\", \"d\": [true, false]}");
  EXPECT_EQ(render("{{ {'b':1,'a':'<\xC3\xA9>'} | tojson(indent=2) }}"), "{\n  \"b\": 1,\n  \"a\": \"<\xC3\xA9>\"\n}");
  EXPECT_EQ(render("{{ {'b': 1, 'a': 2} | tojson(sort_keys=true) }}{{ [1,{'a':1}] | tojson(separators=(',', ':')) }}"
                   "{{ {} | tojson(indent=2) }}{{ {'a': []} | tojson(indent=2) }}"),
            "{\"a\": 2, \"b\": 1}[1,{\"a\":1}]{}{\n  \"a\": []\n}");
  EXPECT_EQ(render("{{ {1: 2} | tojson }}{{ {none: 2, true: 3} | tojson }}{{ '\x01' | tojson }}{{ '\xC3\xA9' | tojson(ensure_ascii=true) }}"),
            "{\"1\": 2}{\"null\": 2, \"true\": 3}\"\\u0001\"\"\\u00e9\"");
  EXPECT_EQ(error_of("{{ x | tojson }}"), "Object of type Undefined is not JSON serializable");
}

TEST(JinjaTests, BuiltinTests) {
  EXPECT_EQ(render("{{ x is string }}{{ [1] is iterable }}{{ 'a' is sequence }}{{ {} is mapping }}"), "FalseTrueTrueTrue");
  EXPECT_EQ(render("{{ none is none }}{{ 1 is number }}{{ 1.0 is integer }}{{ true is boolean }}{{ 1 is odd }}{{ 4 is divisibleby 2 }}{{ 'a' is in 'abc' }}"),
            "TrueTrueFalseTrueTrueTrueTrue");
  EXPECT_EQ(render("{{ 1 is true }}{{ true is true }}{{ x is undefined }}{{ 1 is eq 1 }}{{ 2 is gt 1 }}{{ 'x' is defined and y is not defined }}"),
            "FalseTrueTrueTrueTrueTrue");
}

TEST(JinjaStatements, WhitespaceControlAndTrimBlocks) {
  // trim_blocks drops the newline after a tag; lstrip_blocks the indentation before one.
  EXPECT_EQ(render("{% if true %}\n  yes\n{% endif %}\nend"), "  yes\nend");
  EXPECT_EQ(render("a\n    {% if true %}\nb\n    {% endif %}\nc"), "a\nb\nc");
  EXPECT_EQ(render("a  {{- 'b' -}}  c"), "abc");
  EXPECT_EQ(render("a\n  {%- if true -%}\n  b  \n{%- endif %}"), "ab");
  EXPECT_EQ(render("{{ 'x' }}\n"), "x");                      // one trailing newline of the source is dropped
  EXPECT_EQ(render("a{# note #}\nb"), "ab");                   // comments trim like blocks
  EXPECT_EQ(render("{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
  EXPECT_EQ(render("  {%+ if true %}x{% endif %}"), "  x");  // + keeps the indentation
}

TEST(JinjaStatements, ForLoops) {
  EXPECT_EQ(render("{% for i in [1,2,3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.revindex }};{% endfor %}"),
            "-2-3;1-3-2;2--1;");
  EXPECT_EQ(render("{% for i in [1,2] %}{% for j in [3] %}{{ loop.index }}{% endfor %}{{ loop.index }}{% endfor %}"), "1112");
  EXPECT_EQ(render("{% for i in [1,2,3] if i > 1 %}{{ loop.index }}/{{ loop.length }}{% else %}none{% endfor %}"), "1/22/2");
  EXPECT_EQ(render("{% for i in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for i in [1,2,3] %}{% if i == 2 %}{% continue %}{% endif %}{{ i }}{% if i == 3 %}{% break %}{% endif %}{% endfor %}"),
            "13");
  EXPECT_EQ(render("{% for k, v in {'a': 1}.items() %}{{ k }}={{ v }}{% endfor %}"), "a=1");
  EXPECT_EQ(render("{% for x in {'a': 1, 'b': 2} %}{{ x }}{{ loop.first }}{{ loop.last }}{% endfor %}"), "aTrueFalsebFalseTrue");
  EXPECT_EQ(error_of("{% for a in none %}{% endfor %}"), "'NoneType' object is not iterable");
}

TEST(JinjaStatements, ScopingAndNamespace) {
  // Each iteration starts from the outer value; nothing leaks out of the loop.
  EXPECT_EQ(render("{% set x = 1 %}{% for i in range(3) %}{{ x }}{% set x = x + 1 %}{{ x }},{% endfor %}{{ x }}"), "12,12,12,1");
  EXPECT_EQ(render("{% for i in range(2) %}{% set y = i %}{% endfor %}{{ y }}"), "");
  EXPECT_EQ(render("{% if true %}{% set z = 5 %}{% endif %}{{ z }}"), "5");
  EXPECT_EQ(render("{% set ns = namespace(a=1) %}{% for i in [1,2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}{{ ns }}"),
            "4<Namespace {'a': 4}>");
  EXPECT_EQ(render("{% set a, b = [1, 2] %}{{ a }}{{ b }}"), "12");
  EXPECT_EQ(render("{% set x %}  block {{ 1 }} {% endset %}[{{ x }}]"), "[  block 1 ]");
  EXPECT_EQ(render("{% set x | trim %}  block  {% endset %}[{{ x }}]"), "[block]");
  EXPECT_EQ(render("{% filter upper %}abc{% endfilter %}"), "ABC");
}

TEST(JinjaStatements, Macros) {
  EXPECT_EQ(render("{% macro m(a, b=2) %}{{ a }}{{ b }}{{ q }}{% endmacro %}{% set q = 7 %}{{ m(1) }}{{ m(1, b=5) }}"), "127157");
  EXPECT_EQ(render("{% macro m(a) %}[{{ caller() }}{{ a }}]{% endmacro %}{% call m(1) %}body{% endcall %}"), "[body1]");
  EXPECT_EQ(error_of("{% macro m(a) %}{% endmacro %}{{ m(1, 2) }}"), "macro 'm' takes not more than 1 argument(s)");
}

TEST(JinjaErrors, UndefinedAndTypeErrorsMatchJinja2) {
  EXPECT_EQ(error_of("{{ x.y }}"), "'x' is undefined");
  EXPECT_EQ(error_of("{{ {'a':1}['b'].c }}"), "'dict object' has no attribute 'b'");
  EXPECT_EQ(error_of("{{ [].append(1) }}"), "access to attribute 'append' of 'list' object is unsafe.");
  EXPECT_EQ(error_of("{{ 'a' + 1 }}"), "can only concatenate str (not \"int\") to str");
  EXPECT_EQ(error_of("{{ 1 + 'a' }}"), "unsupported operand type(s) for +: 'int' and 'str'");
  EXPECT_EQ(error_of("{{ 'a' < 1 }}"), "'<' not supported between instances of 'str' and 'int'");
  EXPECT_EQ(error_of("{{ foo() }}"), "'foo' is undefined");
  EXPECT_EQ(error_of("{{ 7 / 0 }}"), "division by zero");
  EXPECT_EQ(error_of("{{ range(100001)|list|length }}"),
            "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000).");
}

TEST(JinjaErrors, SyntaxErrorsNameTheLine) {
  try {
    Template("line one\n{% if x %}\n{{ x | nosuchfilter }}\n{% endif %}\n{{ y | nosuchfilter }}");
    FAIL() << "expected a TemplateError";
  } catch (const TemplateError& e) {
    // Inside an if, an unknown filter only fails when it runs; at the top level at parse time.
    EXPECT_EQ(e.message(), "No filter named 'nosuchfilter'.");
    EXPECT_EQ(e.line(), 5);
    EXPECT_NE(std::string(e.what()).find("line 5"), std::string::npos);
  }
  EXPECT_EQ(error_of("{% if x %}{{ x | nosuchfilter }}{% endif %}", R"({"x": 1})"), "No filter named 'nosuchfilter' found.");
  EXPECT_THROW(Template("{% include 'x.jinja' %}"), TemplateError);
  EXPECT_THROW(Template("{% if x %}unclosed"), TemplateError);
  EXPECT_THROW(Template("{{ 1 + }}"), TemplateError);
  EXPECT_THROW(Template("{% for x in y recursive %}{% endfor %}"), TemplateError);
  try {
    Template("a\nb\n{{ x.y }}").render(Value::dict());
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.line(), 3);
  }
}

TEST(JinjaLimits, HostileTemplatesHitLimits) {
  ember::jinja::RenderLimits limits;
  limits.max_steps = 10000;
  limits.max_output_bytes = 1 << 16;
  auto fails = [&](const std::string& src) {
    try {
      Template(src).render(Value::dict(), limits);
    } catch (const TemplateError&) {
      return true;
    }
    return false;
  };
  EXPECT_TRUE(fails("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"));
  EXPECT_TRUE(fails("{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"));
  EXPECT_TRUE(fails("{{ 'x' * 100000000 }}"));
  EXPECT_TRUE(fails("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"));
  EXPECT_TRUE(fails("{% set ns = namespace() %}{% set ns.self = ns %}{{ ns }}"));  // a cycle, freed after
  EXPECT_THROW(Template("{{ " + std::string(5000, '(') + "1" + std::string(5000, ')') + " }}"), TemplateError);
  EXPECT_THROW(Template("{{ " + std::string(5000, '[') + std::string(5000, ']') + " }}"), TemplateError);
  std::string chain = "{{ 1";
  for (int i = 0; i < 5000; ++i) chain += " + 1";
  EXPECT_THROW(Template(chain + " }}"), TemplateError);
  std::string nested;
  for (int i = 0; i < 500; ++i) nested += "{% if true %}";
  EXPECT_THROW(Template(nested + "x"), TemplateError);
}

}  // namespace
