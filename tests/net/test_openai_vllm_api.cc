// The rest of vLLM's API surface: /v1/completions, /tokenize, /detokenize, /version, the
// `model` check, the validators' headers (X-Client-Timeout, echoed body fields) and the
// latency metrics the handlers record.
#include <simdjson.h>

#include <gtest/gtest.h>

#include "tests/net/openai_fixture.h"

namespace ember::net {
namespace {

using namespace std::chrono_literals;
using simdjson::dom::element;

class VllmApiTest : public test::OpenAIServerTest {};

std::vector<int64_t> ints(element e) {
  std::vector<int64_t> out;
  for (element x : e.get_array()) out.push_back(int64_t(x));
  return out;
}

TEST_F(VllmApiTest, CompletionsAnswerTextPrompts) {
  start();
  auto r = post_json("/v1/completions", R"({"model":"fake-model","prompt":"Say","max_tokens":4,"temperature":0})");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  element e = p.parse(r.body);
  EXPECT_EQ(std::string_view(e["object"]), "text_completion");
  EXPECT_EQ(std::string_view(e["id"]).substr(0, 5), "cmpl-");
  EXPECT_EQ(std::string_view(e["choices"].at(0)["text"]), "Hello, world!");
  EXPECT_EQ(std::string_view(e["choices"].at(0)["finish_reason"]), "stop");
  EXPECT_TRUE(e["choices"].at(0)["logprobs"].is_null());
  EXPECT_EQ(int64_t(e["usage"]["total_tokens"]), 11);
  const CompletionRequest last = service.last_request();
  EXPECT_EQ(last.prompt_text, std::optional<std::string>("Say"));
  EXPECT_TRUE(last.messages.empty());
  EXPECT_EQ(last.max_tokens, 4);
  EXPECT_FLOAT_EQ(*last.temperature, 0.f);
}

TEST_F(VllmApiTest, CompletionsTakeListsOfPromptsAndTokenIds) {
  start();
  auto r = post_json("/v1/completions", R"({"prompt":["a","b"],"max_tokens":4})");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  element e = p.parse(r.body);
  simdjson::dom::array choices = e["choices"];
  ASSERT_EQ(choices.size(), 2u);
  EXPECT_EQ(int64_t(choices.at(1)["index"]), 1);
  EXPECT_EQ(std::string_view(choices.at(1)["text"]), "Hello, world!");
  EXPECT_EQ(int64_t(e["usage"]["completion_tokens"]), 8);
  EXPECT_EQ(service.calls.load(), 2);

  auto ids = post_json("/v1/completions", R"({"prompt":[10,11,12],"echo":true})");
  ASSERT_EQ(ids.status, 200) << ids.body;
  EXPECT_EQ(service.last_request().prompt_ids, (std::vector<int32_t>{10, 11, 12}));
  // echo puts the prompt (ids decoded) before the completion.
  EXPECT_EQ(std::string_view(p.parse(ids.body)["choices"].at(0)["text"]), "\x07\x08\x09Hello, world!");

  // add_special_tokens=false: ember tokenizes the text itself, without BOS.
  ASSERT_EQ(post_json("/v1/completions", R"({"prompt":"hi","add_special_tokens":false})").status, 200);
  EXPECT_EQ(service.last_request().prompt_ids, (std::vector<int32_t>{'h' + 3, 'i' + 3}));

  auto bad_id = post_json("/v1/completions", R"({"prompt":[300],"echo":true})");
  EXPECT_EQ(bad_id.status, 400) << bad_id.body;
}

TEST_F(VllmApiTest, CompletionsStreamWithEchoAndUsage) {
  start();
  auto r = post_json("/v1/completions",
                     R"({"prompt":"Say:","echo":true,"stream":true,"stream_options":{"include_usage":true}})");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  simdjson::dom::parser p;
  std::string text, finish;
  int64_t usage_total = 0;
  for (const auto& ev : test::sse_events(r.body)) {
    element e = p.parse(ev);
    simdjson::dom::array choices = e["choices"];
    if (choices.size() == 0) {
      usage_total = int64_t(e["usage"]["total_tokens"]);
      continue;
    }
    text += std::string_view(choices.at(0)["text"]);
    std::string_view s;
    if (choices.at(0)["finish_reason"].get(s) == simdjson::SUCCESS) finish = s;
  }
  EXPECT_EQ(text, "Say:Hello, world!");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(usage_total, 11);
}

TEST_F(VllmApiTest, CompletionsRefuseWhatTheEngineCannotDo) {
  service.max_model_len_value = 64;
  start();
  auto echo = post_json("/v1/completions", R"({"prompt":"x","echo":true,"logprobs":1})");
  EXPECT_EQ(echo.status, 400);
  EXPECT_NE(echo.body.find("echo with logprobs is not supported"), std::string::npos) << echo.body;
  auto suffix = post_json("/v1/completions", R"({"prompt":"x","suffix":"y"})");
  EXPECT_EQ(suffix.status, 400);
  EXPECT_NE(suffix.body.find("\"param\":\"suffix\""), std::string::npos);
  auto too_long = post_json("/v1/completions", R"({"prompt":[1,2,3,4,5,6,7,8,9,10],"max_tokens":60})");
  EXPECT_EQ(too_long.status, 400);
  EXPECT_NE(too_long.body.find("maximum context length is 64 tokens"), std::string::npos) << too_long.body;
  EXPECT_EQ(post_json("/v1/completions", R"({"prompt":[1,2,3,4],"max_tokens":60})").status, 200);
}

TEST_F(VllmApiTest, UnknownModelIsA404InVllmsShape) {
  start();
  auto r = post_json("/v1/chat/completions", R"({"model":"nope","messages":[{"role":"user","content":"hi"}]})");
  EXPECT_EQ(r.status, 404);
  simdjson::dom::parser p;
  element err = p.parse(r.body)["error"];
  EXPECT_EQ(std::string_view(err["message"]), "The model `nope` does not exist.");
  EXPECT_EQ(std::string_view(err["type"]), "NotFoundError");
  EXPECT_EQ(std::string_view(err["param"]), "model");
  EXPECT_EQ(int64_t(err["code"]), 404);
  EXPECT_EQ(post_json("/v1/completions", R"({"model":"nope","prompt":"x"})").status, 404);
  EXPECT_EQ(post_json("/tokenize", R"({"model":"nope","prompt":"x"})").status, 404);
  EXPECT_EQ(service.calls.load(), 0);

  // Any served name is fine and is echoed back; a null model (validators send it) too.
  auto alias = post_json("/v1/chat/completions", R"({"model":"org/fake-model","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(alias.status, 200) << alias.body;
  EXPECT_EQ(std::string_view(p.parse(alias.body)["model"]), "org/fake-model");
  auto null_model = post_json("/v1/chat/completions", R"({"model":null,"messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(null_model.status, 200);
  EXPECT_EQ(std::string_view(p.parse(null_model.body)["model"]), "fake-model");

  auto models = call(test::get("/v1/models"));
  element data = p.parse(models.body)["data"];
  ASSERT_EQ(simdjson::dom::array(data).size(), 2u);
  EXPECT_EQ(std::string_view(data.at(1)["id"]), "org/fake-model");
}

TEST_F(VllmApiTest, AcceptAnyModelOptsOutOfTheCheck) {
  opts.openai.accept_any_model = true;
  start();
  auto r = post_json("/v1/chat/completions", R"({"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]})");
  ASSERT_EQ(r.status, 200) << r.body;
  simdjson::dom::parser p;
  EXPECT_EQ(std::string_view(p.parse(r.body)["model"]), "fake-model");
}

TEST_F(VllmApiTest, TokenizeAndDetokenizeRoundTrip) {
  service.max_model_len_value = 4096;
  start();
  simdjson::dom::parser p;
  auto t = post_json("/tokenize", R"({"model":"fake-model","prompt":"hi"})");
  ASSERT_EQ(t.status, 200) << t.body;
  element e = p.parse(t.body);
  EXPECT_EQ(int64_t(e["count"]), 3);
  EXPECT_EQ(int64_t(e["max_model_len"]), 4096);
  EXPECT_EQ(ints(e["tokens"]), (std::vector<int64_t>{1, 'h' + 3, 'i' + 3}));
  EXPECT_TRUE(e["token_strs"].is_null());

  auto plain = post_json("/tokenize", R"({"prompt":"hi","add_special_tokens":false,"return_token_strs":true})");
  element pe = p.parse(plain.body);
  EXPECT_EQ(int64_t(pe["count"]), 2);
  EXPECT_EQ(std::string_view(pe["token_strs"].at(1)), "i");

  auto chat = post_json("/tokenize", R"({"messages":[{"role":"user","content":"hi"}],"add_generation_prompt":true})");
  ASSERT_EQ(chat.status, 200) << chat.body;
  std::vector<int32_t> ids;
  for (int64_t id : ints(p.parse(chat.body)["tokens"])) ids.push_back(static_cast<int32_t>(id));
  EXPECT_EQ(ids, service.tokenize("<user>hi<assistant>", false));

  std::string body = R"({"tokens":[)";
  for (size_t i = 0; i < ids.size(); ++i) body += (i ? "," : "") + std::to_string(ids[i]);
  auto d = post_json("/detokenize", body + "]}");
  ASSERT_EQ(d.status, 200) << d.body;
  EXPECT_EQ(std::string_view(p.parse(d.body)["prompt"]), "<user>hi<assistant>");

  auto bad = post_json("/detokenize", R"({"tokens":[5,999]})");
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("999"), std::string::npos) << bad.body;
  EXPECT_EQ(post_json("/detokenize", R"({"tokens":"x"})").status, 400);
  EXPECT_EQ(post_json("/tokenize", R"({"nothing":1})").status, 400);
  EXPECT_EQ(post_json("/tokenize", R"({"messages":[{"role":"user","content":"x"}],"add_generation_prompt":false})").status, 400);
}

TEST_F(VllmApiTest, VersionAnswersEmbersVersion) {
  start();
  auto r = call(test::get("/version"));
  ASSERT_EQ(r.status, 200);
  simdjson::dom::parser p;
  EXPECT_EQ(std::string_view(p.parse(r.body)["version"]), "0.1.0");
}

TEST_F(VllmApiTest, HeadersThatEchoBodyFieldsAreHarmless) {
  start();
  // What the validators' httpx hook sends: body fields copied into headers, Python-printed.
  const std::string headers =
      "seed: 42\r\ntask: InferenceTask\r\n"
      "sampling_parameters: {'temperature': 0.7, 'top_p': 0.95, 'max_new_tokens': 256, 'do_sample': True}\r\n"
      "timeout: 15\r\nX-Client-Timeout: 15\r\n";
  auto r = post_json("/v1/chat/completions",
                     R"({"model":null,"messages":[{"role":"user","content":"hi"}],"seed":42,"task":"InferenceTask",)"
                     R"("sampling_parameters":{"temperature":0.7,"top_p":0.95,"max_new_tokens":256,"do_sample":true},)"
                     R"("timeout":15,"stream":true})",
                     headers);
  ASSERT_EQ(r.status, 200) << r.body;
  const CompletionRequest last = service.last_request();
  EXPECT_EQ(*last.seed, 42u);
  EXPECT_FLOAT_EQ(*last.temperature, 0.7f);
  EXPECT_FLOAT_EQ(*last.top_p, 0.95f);
  EXPECT_EQ(last.max_tokens, 256);
}

TEST_F(VllmApiTest, ClientTimeoutHeaderSetsTheDeadline) {
  opts.openai.deadline_margin_s = 0.5;
  start();
  const auto before = std::chrono::steady_clock::now();
  ASSERT_EQ(post_json("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})",
                      "X-Client-Timeout: 12\r\n").status,
            200);
  const auto after = std::chrono::steady_clock::now();
  // 12 s less the 0.5 s margin, counted from the request's arrival.
  auto deadline = service.last_request().deadline;
  EXPECT_GE(deadline, before + 11500ms);
  EXPECT_LE(deadline, after + 11500ms);

  // A garbage header is ignored (no deadline), not a 400.
  ASSERT_EQ(post_json("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}]})",
                      "X-Client-Timeout: soon\r\n").status,
            200);
  EXPECT_EQ(service.last_request().deadline, std::chrono::steady_clock::time_point::max());
}

TEST_F(VllmApiTest, ClientTimeoutIsCappedByTheServersOwnTimeout) {
  opts.openai.request_timeout_s = 3;
  start();
  const auto before = std::chrono::steady_clock::now();
  ASSERT_EQ(post_json("/v1/completions", R"({"prompt":"x"})", "X-Client-Timeout: 60\r\n").status, 200);
  EXPECT_LE(service.last_request().deadline, std::chrono::steady_clock::now() + 3s);
  EXPECT_GE(service.last_request().deadline, before + 3s);
}

TEST_F(VllmApiTest, DeadlineEndsAHeldStreamWithLength) {
  service.hold = true;
  service.honor_deadline = true;
  start();
  auto r = post_json("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}],"stream":true})",
                     "X-Client-Timeout: 0.4\r\n");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\"finish_reason\":\"length\""), std::string::npos) << r.body;
}

TEST_F(VllmApiTest, MetricsRecordInterTokenAndEndToEndLatency) {
  start();
  ASSERT_EQ(post_json("/v1/chat/completions", R"({"messages":[{"role":"user","content":"hi"}],"stream":true})").status, 200);
  ASSERT_EQ(post_json("/v1/completions", R"({"prompt":"x"})").status, 200);
  ASSERT_TRUE(test::eventually([&] { return server->metrics().e2e_count("openai") == 2; }));
  const std::string m = call(test::get("/metrics")).body;
  // Four tokens a request: three gaps each.
  EXPECT_NE(m.find("ember_inter_token_latency_seconds_count{api=\"openai\"} 6"), std::string::npos) << m;
  EXPECT_NE(m.find("ember_e2e_request_latency_seconds_count{api=\"openai\"} 2"), std::string::npos) << m;
}

}  // namespace
}  // namespace ember::net
