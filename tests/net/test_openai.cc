// The OpenAI-compatible API: request decoding, whole and streamed (SSE) answers, errors.
#include <simdjson.h>

#include <gtest/gtest.h>

#include "net/axon/miner_server.h"
#include "net/openai/chat_request.h"
#include "tests/net/openai_fixture.h"
#include "tests/net/test_http_support.h"

namespace ember::net {
namespace {

using namespace std::chrono_literals;
using test::Client;

TEST(OpenAIRequest, DecodesSamplingFieldsAndTextParts) {
  auto r = openai::decode_chat_request(
      R"({"model":"m","messages":[{"role":"system","content":"be brief"},)"
      R"({"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],)"
      R"("max_tokens":16,"temperature":0.5,"top_p":0.9,"seed":7,"stop":["\n\n","END"],)"
      R"("stream":true,"stream_options":{"include_usage":true},"n":1,"user":"x"})",
      512);
  EXPECT_EQ(r.model, "m");
  ASSERT_EQ(r.completion.messages.size(), 2u);
  EXPECT_EQ(r.completion.messages[1].content, "ab");
  EXPECT_EQ(r.completion.max_tokens, 16);
  EXPECT_FLOAT_EQ(*r.completion.temperature, 0.5f);
  EXPECT_FLOAT_EQ(*r.completion.top_p, 0.9f);
  EXPECT_EQ(*r.completion.seed, 7u);
  EXPECT_EQ(r.completion.stop, (std::vector<std::string>{"\n\n", "END"}));
  EXPECT_TRUE(r.completion.stream);
  EXPECT_TRUE(r.include_usage);
  auto d = openai::decode_chat_request(R"({"messages":[{"role":"user","content":"x"}]})", 99);
  EXPECT_EQ(d.completion.max_tokens, 0);  // unset: the service's default
  EXPECT_FALSE(d.completion.temperature.has_value());
}

TEST(OpenAIRequest, RejectsInvalidRequestsNamingTheField) {
  auto param = [](const char* body) {
    try {
      openai::decode_chat_request(body, 1);
    } catch (const openai::RequestError& e) {
      return e.param();
    }
    return std::string("accepted");
  };
  EXPECT_EQ(param(R"({"messages":[]})"), "messages");
  EXPECT_EQ(param(R"({"messages":[{"content":"x"}]})"), "messages[0].role");
  EXPECT_EQ(param(R"({"messages":[{"role":"user","content":"x"}],"temperature":101})"), "temperature");
  EXPECT_EQ(param(R"({"messages":[{"role":"user","content":"x"}],"max_tokens":0})"), "max_tokens");
  EXPECT_EQ(param(R"({"messages":[{"role":"user","content":"x"}],"n":2})"), "n");
  EXPECT_EQ(param(R"({"messages":[{"role":"user","content":"x"}],"stream":"yes"})"), "stream");
  EXPECT_EQ(param(R"({"messages":[{"role":"user","content":"x"}],"stop":[1]})"), "stop");
  EXPECT_EQ(param("{oops"), "");
}

// The server fixture the other /v1 test files share (tests/net/openai_fixture.h).
using OpenAITest = test::OpenAIServerTest;

TEST_F(OpenAITest, ChatCompletionReturnsTheWholeAnswer) {
  start();
  auto r = call(test::post("/v1/chat/completions",
                           R"({"model":"fake-model","messages":[{"role":"user","content":"hi"}]})"));
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  simdjson::dom::element e = p.parse(r.body);
  EXPECT_EQ(std::string_view(e["object"]), "chat.completion");
  EXPECT_EQ(std::string_view(e["model"]), "fake-model");
  EXPECT_EQ(std::string_view(e["choices"].at(0)["message"]["content"]), "Hello, world!");
  EXPECT_EQ(std::string_view(e["choices"].at(0)["message"]["role"]), "assistant");
  EXPECT_EQ(std::string_view(e["choices"].at(0)["finish_reason"]), "stop");
  EXPECT_EQ(int64_t(e["usage"]["completion_tokens"]), 4);
  EXPECT_EQ(int64_t(e["usage"]["total_tokens"]), 11);
}

TEST_F(OpenAITest, StreamingUsesServerSentEventsEndingWithDone) {
  start();
  auto r = call(test::post(
      "/v1/chat/completions",
      R"({"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}})"));
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  // Every event is "data: ...\n\n"; the last is [DONE] (sse_events checks both and drops it).
  const std::vector<std::string> events = test::sse_events(r.body);
  ASSERT_GE(events.size(), 3u);
  simdjson::dom::parser p;
  std::string text;
  std::string finish;
  bool saw_role = false, saw_usage = false;
  for (size_t i = 0; i < events.size(); ++i) {
    simdjson::dom::element e = p.parse(events[i]);
    EXPECT_EQ(std::string_view(e["object"]), "chat.completion.chunk");
    simdjson::dom::array choices = e["choices"];
    if (choices.size() == 0) {
      saw_usage = int64_t(e["usage"]["completion_tokens"]) == 4;
      continue;
    }
    auto delta = choices.at(0)["delta"];
    std::string_view s;
    if (delta["role"].get(s) == simdjson::SUCCESS) saw_role = (s == "assistant");
    if (delta["content"].get(s) == simdjson::SUCCESS) text += s;
    if (choices.at(0)["finish_reason"].get(s) == simdjson::SUCCESS) finish = s;
  }
  EXPECT_EQ(text, "Hello, world!");
  EXPECT_EQ(finish, "stop");
  EXPECT_TRUE(saw_role);
  EXPECT_TRUE(saw_usage);
}

TEST_F(OpenAITest, ErrorsUseTheOpenAIErrorShape) {
  start();
  auto bad = call(test::post("/v1/chat/completions", "{\"messages\": 5}"));
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("\"type\":\"invalid_request_error\""), std::string::npos) << bad.body;
  EXPECT_NE(bad.body.find("\"param\":\"messages\""), std::string::npos);
  service.busy = true;
  auto busy = call(test::post("/v1/chat/completions",
                              R"({"messages":[{"role":"user","content":"hi"}]})"));
  EXPECT_EQ(busy.status, 429);
}

TEST_F(OpenAITest, ModelsListsTheServedModel) {
  start();
  auto r = call(test::get("/v1/models"));
  ASSERT_EQ(r.status, 200);
  simdjson::dom::parser p;
  simdjson::dom::element e = p.parse(r.body);
  EXPECT_EQ(std::string_view(e["object"]), "list");
  EXPECT_EQ(std::string_view(e["data"].at(0)["id"]), "fake-model");
}

TEST_F(OpenAITest, ApiKeyIsRequiredWhenConfigured) {
  opts.openai.api_key = "sekret";
  start();
  EXPECT_EQ(call(test::get("/v1/models")).status, 401);
  EXPECT_EQ(call("GET /v1/models HTTP/1.1\r\nAuthorization: Bearer sekret\r\n\r\n").status, 200);
}

TEST_F(OpenAITest, CurlStreamsServerSentEvents) {
  if (test::run_command("command -v curl").empty()) GTEST_SKIP() << "curl not installed";
  start();
  std::string out = test::run_command(
      "curl -sN --max-time 10 -H 'Content-Type: application/json' -d "
      "'{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":true}' "
      "http://127.0.0.1:" + std::to_string(port) + "/v1/chat/completions");
  EXPECT_EQ(out.rfind("data: {", 0), 0u) << out;
  EXPECT_NE(out.find("\"content\":\"world\""), std::string::npos) << out;
  ASSERT_GE(out.size(), 14u);
  EXPECT_EQ(out.substr(out.size() - 14), "data: [DONE]\n\n");
}

}  // namespace
}  // namespace ember::net
