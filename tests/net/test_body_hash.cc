// The body hash and the Python str()/repr() it rests on, against values printed by CPython 3.11.
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <simdjson.h>

#include "engine/core/error.h"
#include "net/auth/body_hash.h"
#include "net/auth/python_str.h"

using namespace ember::net::auth;

namespace {
struct ReprCase {
  const char* json;  // the string as a JSON literal
  const char* repr;  // CPython's repr() of it
};
const ReprCase kReprCases[] = {
    {R"J("plain")J", R"J('plain')J"},
    {R"J("it's")J", R"J("it's")J"},
    {R"J("say \"hi\"")J", R"J('say "hi"')J"},
    {R"J("both ' and \"")J", R"J('both \' and "')J"},
    {R"J("back\\slash")J", R"J('back\\slash')J"},
    {R"J("tab\there\nnew\rret")J", R"J('tab\there\nnew\rret')J"},
    {R"J("\u0000\u0001\u001f\u007f")J", R"J('\x00\x01\x1f\x7f')J"},
    {R"J("caf\u00e9")J", R"J('café')J"},
    {R"J("\u00a0nbsp")J", R"J('\xa0nbsp')J"},
    {R"J("line\u2028sep")J", R"J('line\u2028sep')J"},
    {R"J("emoji \ud83d\ude00")J", R"J('emoji 😀')J"},
    {R"J("\u200bzw")J", R"J('\u200bzw')J"},
    {R"J("\ue000priv")J", R"J('\ue000priv')J"},
    {R"J("\udb40\udc01tag")J", R"J('\U000e0001tag')J"},
    {R"J("\u0378unassigned")J", R"J('\u0378unassigned')J"},
    {R"J("\u0085nel")J", R"J('\x85nel')J"},
    {R"J("\u4e2d\u6587")J", R"J('中文')J"},
    {R"J("\u00ad")J", R"J('\xad')J"},
};

std::string str_of_json(const std::string& json) {
  simdjson::dom::parser p;
  simdjson::padded_string padded(json);
  return python_str(p.parse(padded).value());
}
}  // namespace

TEST(PythonRepr, MatchesCPythonOnTrickyStrings) {
  for (const ReprCase& c : kReprCases) {
    SCOPED_TRACE(c.json);
    simdjson::dom::parser p;
    simdjson::padded_string padded(std::string(c.json));
    std::string_view s = p.parse(padded).get_string().value();
    EXPECT_EQ(python_repr(s), c.repr);
  }
}

TEST(PythonRepr, InvalidUtf8IsAnError) {
  EXPECT_THROW(python_repr("\xff"), ember::Error);
  EXPECT_THROW(python_repr("\xc0\x80"), ember::Error);      // overlong NUL
  EXPECT_THROW(python_repr("\xed\xa0\x80"), ember::Error);  // a surrogate
  EXPECT_THROW(python_repr("\xe4\xb8"), ember::Error);      // truncated
}

TEST(PythonStr, ValuesAndContainers) {
  EXPECT_EQ(str_of_json(R"J("top level str is raw: it's")J"), "top level str is raw: it's");
  EXPECT_EQ(str_of_json(R"J({"a": [1, 2.5, true, null, "x'"], "b": {}})J"),
            R"J({'a': [1, 2.5, True, None, "x'"], 'b': {}})J");
  EXPECT_EQ(str_of_json("[]"), "[]");
  EXPECT_EQ(python_float_repr(1.0), "1.0");
  EXPECT_EQ(python_float_repr(0.1), "0.1");
  EXPECT_EQ(python_float_repr(1e16), "1e+16");
  EXPECT_EQ(python_float_repr(1e15), "1000000000000000.0");
  EXPECT_EQ(python_float_repr(123456789012345678.0), "1.2345678901234568e+17");
  EXPECT_EQ(python_float_repr(1e-5), "1e-05");
  EXPECT_EQ(python_float_repr(0.0001), "0.0001");
  EXPECT_EQ(python_float_repr(2.5e-7), "2.5e-07");
  EXPECT_EQ(python_float_repr(-0.0), "-0.0");
  EXPECT_EQ(python_float_repr(1.5e300), "1.5e+300");
  EXPECT_EQ(python_float_repr(3.14159), "3.14159");
}

TEST(BodyHash, PromptingExample) {
  const std::string body = R"J({"name": "Prompting", "timeout": 12.0, "roles": ["system", "user"],
    "messages": ["You are a helpful assistant.", "What is the capital of Egypt?"], "completion": ""})J";
  EXPECT_EQ(compute_body_hash(body, kPromptingHashFields),
            "3ecc583f21834a7a7565cbc9125012d5754ea28777b1e8b01a9da266aeb77bce");
  // No required fields: sha3_256("").
  EXPECT_EQ(compute_body_hash(body, {}), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
}

TEST(BodyHash, TrickyMessagesMatchCPython) {
  const std::string body = R"J({"name": "Prompting", "messages": ["plain", "it's", "say \"hi\"", "both ' and \"", "back\\slash", "tab\there\nnew\rret", "\u0000\u0001\u001f\u007f", "caf\u00e9", "\u00a0nbsp", "line\u2028sep", "emoji \ud83d\ude00", "\u200bzw", "\ue000priv", "\udb40\udc01tag", "\u0378unassigned", "\u0085nel", "\u4e2d\u6587", "\u00ad"], "roles": ["user", "user", "user", "user", "user", "user", "user", "user", "user", "user", "user", "user", "user", "user", "user", "user", "user", "user"], "completion": ""})J";
  EXPECT_EQ(compute_body_hash(body, kPromptingHashFields), "dd8c3f0046d6a03e90b23d8c63d2ff6702e50ebda724f7c1c12af3530747a085");
}

TEST(BodyHash, BadBodiesAreErrors) {
  EXPECT_THROW(compute_body_hash("not json", kPromptingHashFields), ember::Error);
  EXPECT_THROW(compute_body_hash("[1]", kPromptingHashFields), ember::Error);
  EXPECT_THROW(compute_body_hash(R"({"roles": []})", kPromptingHashFields), ember::Error);
  // A duplicated hashed field could make the hash and the request parser see different prompts.
  EXPECT_THROW(compute_body_hash(R"({"messages": ["a"], "messages": ["b"]})", kPromptingHashFields), ember::Error);
}
