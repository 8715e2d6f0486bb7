// Style injection: parsing (TOML/JSON, with errors that name the file and the entry), the
// built-in set, the seeded weighted draw, and where the style goes in the conversation.
#include <map>
#include <set>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "net/unique/style_book.h"

namespace ember::net::unique {
namespace {

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(StyleBook, BuiltinSetIsVariedAndValid) {
  const StyleBook b = StyleBook::builtin();
  EXPECT_GE(b.styles().size(), 18u);
  EXPECT_LE(b.styles().size(), 30u);
  std::set<std::string> texts;
  for (const auto& s : b.styles()) {
    EXPECT_GT(s.weight, 0) << s.name;
    EXPECT_GT(s.text.size(), 40u) << s.name;
    texts.insert(s.text);
  }
  EXPECT_EQ(texts.size(), b.styles().size());
  EXPECT_EQ(StyleBook::load("builtin").styles().size(), b.styles().size());
}

TEST(StyleBook, ParsesTomlAndJsonAlike) {
  const StyleBook t = StyleBook::parse_toml(R"(
[[styles]]
name = "pirate"
text = "Talk like a pirate."
weight = 2.5

[[styles]]
name = "haiku"
text = "End with a haiku."
)", "miner.toml");
  const StyleBook j = StyleBook::parse_json(
      R"({"styles": [{"name": "pirate", "text": "Talk like a pirate.", "weight": 2.5},
                     {"name": "haiku", "text": "End with a haiku."}]})",
      "miner.json");
  ASSERT_EQ(t.styles().size(), 2u);
  ASSERT_EQ(j.styles().size(), 2u);
  for (const StyleBook* b : {&t, &j}) {
    EXPECT_EQ(b->styles()[0].name, "pirate");
    EXPECT_EQ(b->styles()[0].text, "Talk like a pirate.");
    EXPECT_DOUBLE_EQ(b->styles()[0].weight, 2.5);
    EXPECT_DOUBLE_EQ(b->styles()[1].weight, 1.0);  // the default
  }
  // A bare array and an integer weight are fine in JSON.
  EXPECT_DOUBLE_EQ(StyleBook::parse_json(R"([{"name":"a","text":"x","weight":3}])", "f.json").styles()[0].weight, 3);
}

TEST(StyleBook, ErrorsNameTheFileAndTheEntry) {
  EXPECT_EQ(error_of([] { StyleBook::parse_toml("[[styles]]\nname = \"a\"\ntext = \"x\"\nweight = -1\n", "m.toml"); }),
            "m.toml: styles[0] (\"a\"): `weight` must be a finite number >= 0, got -1");
  EXPECT_EQ(error_of([] {
              StyleBook::parse_json(R"({"styles":[{"name":"a","text":"x"},{"name":"a","text":"y"}]})", "m.json");
            }),
            "m.json: styles[1] (\"a\"): the name is used twice");
  EXPECT_EQ(error_of([] { StyleBook::parse_json(R"({"styles":[{"name":"b"}]})", "m.json"); }),
            "m.json: styles[0] (\"b\"): `text` is missing or empty");
  EXPECT_EQ(error_of([] { StyleBook::parse_json(R"({"styles":[{"text":"t"}]})", "m.json"); }),
            "m.json: styles[0]: `name` is missing or empty");
  EXPECT_EQ(error_of([] { StyleBook::parse_toml("[[styles]]\nname = \"a\"\ntext = \"x\"\ntone = 1\n", "m.toml"); }),
            "m.toml: styles[0] (\"a\"): unknown key `tone` (expected name, text, weight)");
  EXPECT_EQ(error_of([] { StyleBook::parse_json(R"({"styles":[{"name":"a","text":"x","weight":0}]})", "m.json"); }),
            "m.json: every weight is 0, so no style can be drawn");
  EXPECT_NE(error_of([] { StyleBook::parse_toml("styles = [", "m.toml"); }).find("m.toml: TOML error at line 1"),
            std::string::npos);
  EXPECT_NE(error_of([] { StyleBook::parse_json("{", "m.json"); }).find("m.json: JSON error"), std::string::npos);
  EXPECT_EQ(error_of([] { StyleBook::load("/nonexistent/styles.toml"); }),
            "--styles /nonexistent/styles.toml: cannot open the file");
  EXPECT_EQ(error_of([] { StyleBook::load("styles.yaml"); }),
            "--styles styles.yaml: expected a .toml or .json file, or `builtin`");
}

TEST(StyleBook, DrawIsAPureFunctionOfSeedAndIndex) {
  const StyleBook b = StyleBook::builtin();
  for (uint64_t seed : {0ull, 1ull, 42ull, 0xDEADBEEFCAFEull})
    for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(&b.draw(seed, i), &b.draw(seed, i));
  // Every style turns up, and candidates of one request get different draws.
  std::set<std::string> seen;
  int same_as_first = 0;
  for (uint64_t seed = 0; seed < 2000; ++seed) {
    seen.insert(b.draw(seed, 0).name);
    same_as_first += b.draw(seed, 0).name == b.draw(seed, 1).name;
  }
  EXPECT_EQ(seen.size(), b.styles().size());
  EXPECT_LT(same_as_first, 2000 / 10);  // 1/20 expected
}

TEST(StyleBook, DrawFollowsTheWeights) {
  const StyleBook b = StyleBook::from_styles({{"a", "A", 3}, {"b", "B", 1}, {"never", "N", 0}}, "test");
  std::map<std::string, int> n;
  for (uint64_t seed = 0; seed < 8000; ++seed) ++n[b.draw(seed, 0).name];
  EXPECT_EQ(n["never"], 0);
  EXPECT_NEAR(n["a"] / 8000.0, 0.75, 0.03);
}

TEST(ApplyStyle, MergesIntoALeadingSystemMessageOrAddsOne) {
  const Style s{"tldr", "Open with a TL;DR.", 1};
  auto out = apply_style({{"system", "You are a helpful assistant."}, {"user", "Why is the sky blue?"}}, s, true);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].role, "system");
  EXPECT_EQ(out[0].content, "You are a helpful assistant.\n\nOpen with a TL;DR.");
  EXPECT_EQ(out[1].content, "Why is the sky blue?");

  out = apply_style({{"user", "Why is the sky blue?"}}, s, true);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].role, "system");
  EXPECT_EQ(out[0].content, "Open with a TL;DR.");
}

TEST(ApplyStyle, WithoutASystemRoleGoesIntoTheFirstUserTurn) {
  const Style s{"tldr", "Open with a TL;DR.", 1};
  auto out = apply_style({{"system", "Be kind."}, {"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}}, s, false);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].role, "user");
  EXPECT_EQ(out[0].content, "Open with a TL;DR.\n\nBe kind.\n\nQ1");
  EXPECT_EQ(out[2].content, "Q2");
  for (const auto& m : out) EXPECT_NE(m.role, "system");
}

TEST(ApplyStyle, AfterThePromptGoesAtTheEndOfTheLastUserTurn) {
  const Style s{"tldr", "Open with a TL;DR.", 1};
  auto out = apply_style({{"system", "Be kind."}, {"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}}, s, true,
                         StylePlacement::kAfterPrompt);
  ASSERT_EQ(out.size(), 4u);
  EXPECT_EQ(out[0].content, "Be kind.");
  EXPECT_EQ(out[1].content, "Q1");
  EXPECT_EQ(out[3].content, "Q2\n\n(Open with a TL;DR.)");

  // Without a system role the caller's system text still moves into the first user turn, alone.
  out = apply_style({{"system", "Be kind."}, {"user", "Q1"}, {"assistant", "A1"}, {"user", "Q2"}}, s, false,
                    StylePlacement::kAfterPrompt);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].content, "Be kind.\n\nQ1");
  EXPECT_EQ(out[2].content, "Q2\n\n(Open with a TL;DR.)");
  out = apply_style({{"user", "Q"}}, s, false, StylePlacement::kAfterPrompt);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].content, "Q\n\n(Open with a TL;DR.)");

  // No user turn to follow: the system placement.
  out = apply_style({{"assistant", "A"}}, s, true, StylePlacement::kAfterPrompt);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].role, "system");
  EXPECT_EQ(out[0].content, "Open with a TL;DR.");
}

TEST(ApplyStyle, MixedPlacementAlternatesFromSystem) {
  EXPECT_EQ(placement_of(StylePlacement::kMixed, 0), StylePlacement::kSystem);
  EXPECT_EQ(placement_of(StylePlacement::kMixed, 1), StylePlacement::kAfterPrompt);
  EXPECT_EQ(placement_of(StylePlacement::kMixed, 4), StylePlacement::kSystem);
  EXPECT_EQ(placement_of(StylePlacement::kAfterPrompt, 0), StylePlacement::kAfterPrompt);
  EXPECT_EQ(placement_of(StylePlacement::kSystem, 3), StylePlacement::kSystem);
}

}  // namespace
}  // namespace ember::net::unique
