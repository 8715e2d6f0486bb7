// Logprobs as vLLM's OpenAI server writes them: the chat format (whole and streamed, one token
// per chunk, empty-text tokens included) and the legacy completions format.
#include <simdjson.h>

#include <gtest/gtest.h>

#include "net/openai/logprobs_json.h"
#include "tests/net/openai_fixture.h"

namespace ember::net {
namespace {

using simdjson::dom::element;

GeneratedToken token(int32_t id, std::string text, float lp, std::vector<TokenLogprob> top = {}) {
  GeneratedToken t;
  t.chosen = {id, std::move(text), lp};
  t.top = std::move(top);
  return t;
}

std::vector<int64_t> byte_list(element e) {
  std::vector<int64_t> out;
  for (element b : e.get_array()) out.push_back(int64_t(b));
  return out;
}

TEST(OpenAILogprobsJson, ChatEntriesHoldTokenLogprobBytesAndTopAlternatives) {
  std::string out;
  openai::append_chat_logprobs(
      out, {token(5, "é", -0.5f, {{5, "é", -0.5f}, {9, "e", -1.25f}, {11, "x", -3.f}}),
            token(7, "\xEF\xBF\xBD", -std::numeric_limits<float>::infinity())},
      2, false);
  simdjson::dom::parser p;
  element e = p.parse(out);
  simdjson::dom::array content = e["content"];
  ASSERT_EQ(content.size(), 2u);
  element first = content.at(0);
  EXPECT_EQ(std::string_view(first["token"]), "é");
  EXPECT_DOUBLE_EQ(double(first["logprob"]), -0.5);
  EXPECT_EQ(byte_list(first["bytes"]), (std::vector<int64_t>{0xC3, 0xA9}));
  simdjson::dom::array top = first["top_logprobs"];
  ASSERT_EQ(top.size(), 2u);  // at most top_n, most likely first
  EXPECT_EQ(std::string_view(top.at(1)["token"]), "e");
  EXPECT_DOUBLE_EQ(double(top.at(1)["logprob"]), -1.25);
  EXPECT_EQ(byte_list(top.at(1)["bytes"]), std::vector<int64_t>{'e'});
  // A piece that is not UTF-8 alone is U+FFFD, bytes and all, as vLLM writes it; -inf is -9999.
  element second = content.at(1);
  EXPECT_EQ(byte_list(second["bytes"]), (std::vector<int64_t>{0xEF, 0xBF, 0xBD}));
  EXPECT_DOUBLE_EQ(double(second["logprob"]), -9999.0);
  EXPECT_EQ(simdjson::dom::array(second["top_logprobs"]).size(), 0u);

  std::string ids;
  openai::append_chat_logprobs(ids, {token(7, "\xEF\xBF\xBD", -1.f, {{8, "a", -2.f}})}, 1, true);
  element by_id = p.parse(ids);
  EXPECT_EQ(std::string_view(by_id["content"].at(0)["token"]), "token_id:7");
  EXPECT_EQ(std::string_view(by_id["content"].at(0)["top_logprobs"].at(0)["token"]), "token_id:8");
}

TEST(OpenAILogprobsJson, LegacyFormatHasParallelListsAndTheChosenTokenInEachTopMap) {
  openai::LegacyLogprobs lp(2, false);
  lp.add(token(1, "Hi", -0.1f, {{2, "Hey", -0.05f}, {1, "Hi", -0.1f}, {3, "Yo", -4.f}}), 0);
  lp.add(token(4, " there", -2.f, {{5, "!", -0.5f}, {5, "!", -0.7f}}), 2);
  EXPECT_EQ(lp.size(), 2u);
  std::string out;
  lp.append_json(out);
  simdjson::dom::parser p;
  element e = p.parse(out);
  EXPECT_EQ(int64_t(e["text_offset"].at(1)), 2);
  EXPECT_EQ(std::string_view(e["tokens"].at(0)), "Hi");
  EXPECT_DOUBLE_EQ(double(e["token_logprobs"].at(1)), -2.0);
  simdjson::dom::object top0 = e["top_logprobs"].at(0);
  EXPECT_EQ(top0.size(), 2u);  // the chosen "Hi" plus the top 2, "Hi" once
  EXPECT_FLOAT_EQ(float(double(top0["Hey"])), -0.05f);
  simdjson::dom::object top1 = e["top_logprobs"].at(1);
  EXPECT_EQ(top1.size(), 2u);  // " there" (chosen, not in the top 2) and "!" once
  EXPECT_DOUBLE_EQ(double(top1[" there"]), -2.0);
  EXPECT_DOUBLE_EQ(double(top1["!"]), -0.5);
}

class OpenAILogprobsTest : public test::OpenAIServerTest {};

TEST_F(OpenAILogprobsTest, WholeChatAnswerCarriesOneEntryPerToken) {
  start();
  auto r = post_json("/v1/chat/completions",
                     R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":2})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(service.last_request().logprobs, 2);
  simdjson::dom::parser p;
  element e = p.parse(r.body);
  simdjson::dom::array content = e["choices"].at(0)["logprobs"]["content"];
  ASSERT_EQ(content.size(), 4u);
  const char* texts[] = {"Hello", ", ", "world", "!"};
  for (size_t i = 0; i < 4; ++i) {
    element c = content.at(i);
    EXPECT_EQ(std::string_view(c["token"]), texts[i]);
    EXPECT_DOUBLE_EQ(double(c["logprob"]), -0.25 * double(i + 1));
    EXPECT_EQ(simdjson::dom::array(c["top_logprobs"]).size(), 2u);
    EXPECT_EQ(std::string_view(c["top_logprobs"].at(1)["token"]), "alt1");
  }
  EXPECT_EQ(std::string_view(e["choices"].at(0)["message"]["content"]), "Hello, world!");

  auto plain = post_json("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})");
  EXPECT_NE(plain.body.find("\"logprobs\":null"), std::string::npos) << plain.body;
  EXPECT_EQ(service.last_request().logprobs, -1);
}

TEST_F(OpenAILogprobsTest, StreamSendsExactlyOneTokenPerChunkEvenWhenItsTextIsEmpty) {
  // Token 1 is the first byte of "é": no text on its own; token 2 completes it.
  service.pieces = {"H", "", "é", "!"};
  service.token_strs = {"H", "\xEF\xBF\xBD", "\xEF\xBF\xBD", "!"};
  start();
  auto r = post_json("/v1/chat/completions",
                     R"({"messages":[{"role":"user","content":"hi"}],"stream":true,"logprobs":true,)"
                     R"("top_logprobs":3,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(r.status, 200) << r.body;
  auto events = test::sse_events(r.body);
  simdjson::dom::parser p;
  std::vector<std::string> token_chunks;  // delta.content of each chunk with logprobs
  std::string finish;
  int role_chunks = 0, usage_chunks = 0;
  for (const auto& ev : events) {
    element e = p.parse(ev);
    simdjson::dom::array choices = e["choices"];
    if (choices.size() == 0) {
      ++usage_chunks;
      continue;
    }
    element c = choices.at(0);
    std::string_view s;
    if (c["delta"]["role"].get(s) == simdjson::SUCCESS) ++role_chunks;
    element lp = c["logprobs"];
    if (!lp.is_null()) {
      simdjson::dom::array content = lp["content"];
      ASSERT_EQ(content.size(), 1u) << ev;  // one generated token per chunk
      EXPECT_EQ(simdjson::dom::array(content.at(0)["top_logprobs"]).size(), 3u);
      ASSERT_EQ(c["delta"]["content"].get(s), simdjson::SUCCESS) << ev;
      token_chunks.emplace_back(s);
      EXPECT_TRUE(c["finish_reason"].is_null()) << ev;
    } else if (c["finish_reason"].get(s) == simdjson::SUCCESS) {
      finish = s;
    }
  }
  EXPECT_EQ(token_chunks, (std::vector<std::string>{"H", "", "é", "!"}));
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(role_chunks, 1);
  EXPECT_EQ(usage_chunks, 1);
}

TEST_F(OpenAILogprobsTest, TopLogprobsAboveTheServersMaximumIsRefused) {
  service.max_logprobs_value = 5;
  start();
  auto r = post_json("/v1/chat/completions",
                     R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":6})");
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("\"param\":\"top_logprobs\""), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("maximum of 5"), std::string::npos) << r.body;
  EXPECT_EQ(service.calls.load(), 0);
  auto c = post_json("/v1/completions", R"({"prompt":"x","logprobs":6})");
  EXPECT_EQ(c.status, 400);
  EXPECT_NE(c.body.find("\"param\":\"logprobs\""), std::string::npos) << c.body;
}

TEST_F(OpenAILogprobsTest, CompletionsUseTheLegacyFormat) {
  start();
  auto r = post_json("/v1/completions", R"({"prompt":"Say","logprobs":2,"max_tokens":4})");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  element lp = p.parse(r.body)["choices"].at(0)["logprobs"];
  std::vector<std::string> tokens;
  for (element t : lp["tokens"].get_array()) tokens.emplace_back(std::string_view(t));
  EXPECT_EQ(tokens, (std::vector<std::string>{"Hello", ", ", "world", "!"}));
  std::vector<int64_t> offsets;
  for (element t : lp["text_offset"].get_array()) offsets.push_back(int64_t(t));
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 5, 7, 12}));
  EXPECT_DOUBLE_EQ(double(lp["token_logprobs"].at(3)), -1.0);
  simdjson::dom::object top = lp["top_logprobs"].at(0);
  EXPECT_EQ(top.size(), 3u);  // the chosen token and the top 2
  EXPECT_DOUBLE_EQ(double(top["Hello"]), -0.25);
  EXPECT_DOUBLE_EQ(double(top["alt1"]), -1.0);
}

TEST_F(OpenAILogprobsTest, StreamedCompletionsSendOneTokenPerChunk) {
  service.pieces = {"a", "", "é"};
  start();
  auto r = post_json("/v1/completions", R"({"prompt":"x","logprobs":0,"stream":true})");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  std::vector<std::string> texts;
  std::vector<int64_t> offsets;
  std::string finish;
  for (const auto& ev : test::sse_events(r.body)) {
    element e = p.parse(ev);
    EXPECT_EQ(std::string_view(e["object"]), "text_completion");
    element c = e["choices"].at(0);
    std::string_view s;
    if (!c["logprobs"].is_null()) {
      ASSERT_EQ(simdjson::dom::array(c["logprobs"]["tokens"]).size(), 1u) << ev;
      offsets.push_back(int64_t(c["logprobs"]["text_offset"].at(0)));
      texts.emplace_back(std::string_view(c["text"]));
    } else if (c["finish_reason"].get(s) == simdjson::SUCCESS) {
      finish = s;
    }
  }
  EXPECT_EQ(texts, (std::vector<std::string>{"a", "", "é"}));
  EXPECT_EQ(offsets, (std::vector<int64_t>{0, 1, 1}));
  EXPECT_EQ(finish, "stop");
}

}  // namespace
}  // namespace ember::net
