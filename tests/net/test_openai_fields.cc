// Decoding of the fields vLLM's OpenAI server accepts: sampling, vLLM's extras, the validators'
// sampling_parameters, logprobs requests, and /v1/completions prompts; errors name the field.
#include <gtest/gtest.h>

#include "net/openai/chat_request.h"
#include "net/openai/completions_request.h"

namespace ember::net {
namespace {

const openai::DecodeLimits kLimits{512, 20};

openai::ChatRequest chat(const std::string& extra) {
  return openai::decode_chat_request(R"({"messages":[{"role":"user","content":"x"})" + std::string("]") + extra + "}",
                                     kLimits);
}

std::string chat_param(const std::string& extra) {
  try {
    chat(extra);
  } catch (const openai::RequestError& e) {
    return e.param();
  }
  return "accepted";
}

std::string completions_param(const std::string& body) {
  try {
    openai::decode_completions_request(body, kLimits);
  } catch (const openai::RequestError& e) {
    return e.param();
  }
  return "accepted";
}

TEST(OpenAIFields, DecodesVllmExtraFieldsAndIgnoresUnknownOnes) {
  auto r = chat(R"(,"top_k":40,"min_p":0.05,"repetition_penalty":1.1,"presence_penalty":0.5,)"
                R"("frequency_penalty":-0.5,"logit_bias":{"42":-100,"7":2.5},"min_tokens":3,)"
                R"("ignore_eos":true,"stop_token_ids":[5,6],"skip_special_tokens":false,)"
                R"("include_stop_str_in_output":true,"stop":"END","max_completion_tokens":64,)"
                R"("guided_json":{"x":1},"user":"u","task":"InferenceTask","timeout":15)");
  const CompletionRequest& c = r.completion;
  EXPECT_EQ(*c.top_k, 40);
  EXPECT_FLOAT_EQ(*c.min_p, 0.05f);
  EXPECT_FLOAT_EQ(*c.repetition_penalty, 1.1f);
  EXPECT_FLOAT_EQ(*c.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(*c.frequency_penalty, -0.5f);
  EXPECT_EQ(c.logit_bias, (std::map<int32_t, float>{{7, 2.5f}, {42, -100.f}}));
  EXPECT_EQ(c.min_tokens, 3);
  EXPECT_TRUE(c.ignore_eos);
  EXPECT_EQ(c.stop_token_ids, (std::vector<int32_t>{5, 6}));
  EXPECT_FALSE(c.skip_special_tokens);
  EXPECT_TRUE(c.include_stop_str_in_output);
  EXPECT_EQ(c.stop, std::vector<std::string>{"END"});
  EXPECT_EQ(c.max_tokens, 64);
  EXPECT_EQ(c.logprobs, -1);
  EXPECT_EQ(chat("").completion.top_k, std::nullopt);
  EXPECT_EQ(*chat(R"(,"top_k":-1)").completion.top_k, 0);  // vLLM's "off"
}

TEST(OpenAIFields, SamplingParametersFillWhatTheTopLevelLeavesUnset) {
  auto r = chat(R"(,"seed":1234,"sampling_parameters":{"temperature":0.7,"top_p":0.95,"top_k":50,)"
                R"("max_new_tokens":77,"do_sample":true,"num_beams":1,"stop":null,"seed":5})");
  EXPECT_FLOAT_EQ(*r.completion.temperature, 0.7f);
  EXPECT_FLOAT_EQ(*r.completion.top_p, 0.95f);
  EXPECT_EQ(*r.completion.top_k, 50);
  EXPECT_EQ(r.completion.max_tokens, 77);
  EXPECT_EQ(*r.completion.seed, 1234u);  // the top-level seed wins

  auto top = chat(R"(,"temperature":0.2,"max_tokens":9,"sampling_parameters":{"temperature":0.7,"max_tokens":77})");
  EXPECT_FLOAT_EQ(*top.completion.temperature, 0.2f);
  EXPECT_EQ(top.completion.max_tokens, 9);

  // do_sample=false is greedy whatever temperature came with it.
  auto greedy = chat(R"(,"sampling_parameters":{"temperature":0.7,"do_sample":false})");
  EXPECT_FLOAT_EQ(*greedy.completion.temperature, 0.f);
  EXPECT_EQ(*chat(R"(,"sampling_parameters":{"seed":5})").completion.seed, 5u);
  EXPECT_EQ(chat("").completion.max_tokens, 0);  // unset: the service's default (it fits the context)
  EXPECT_EQ(chat_param(R"(,"min_tokens":513)"), "min_tokens");  // above the default length
}

TEST(OpenAIFields, LogprobsAndTopLogprobs) {
  auto r = chat(R"(,"logprobs":true,"top_logprobs":5)");
  EXPECT_EQ(r.top_logprobs, 5);
  EXPECT_EQ(r.completion.logprobs, 5);
  EXPECT_EQ(chat(R"(,"logprobs":true)").completion.logprobs, 0);
  EXPECT_EQ(chat(R"(,"logprobs":false)").completion.logprobs, -1);
  EXPECT_EQ(chat(R"(,"logprobs":true,"top_logprobs":20)").completion.logprobs, 20);
  EXPECT_TRUE(chat(R"(,"logprobs":true,"return_tokens_as_token_ids":true)").return_tokens_as_token_ids);
}

TEST(OpenAIFields, BadFieldsAreRefusedByName) {
  EXPECT_EQ(chat_param(R"(,"logprobs":true,"top_logprobs":21)"), "top_logprobs");
  EXPECT_EQ(chat_param(R"(,"top_logprobs":3)"), "top_logprobs");  // needs logprobs: true
  EXPECT_EQ(chat_param(R"(,"logprobs":"yes")"), "logprobs");
  EXPECT_EQ(chat_param(R"(,"logprobs":true,"top_logprobs":-1)"), "top_logprobs");
  EXPECT_EQ(chat_param(R"(,"top_k":"x")"), "top_k");
  EXPECT_EQ(chat_param(R"(,"top_k":-2)"), "top_k");
  EXPECT_EQ(chat_param(R"(,"min_p":2)"), "min_p");
  EXPECT_EQ(chat_param(R"(,"repetition_penalty":0)"), "repetition_penalty");
  EXPECT_EQ(chat_param(R"(,"logit_bias":{"x":1})"), "logit_bias");
  EXPECT_EQ(chat_param(R"(,"logit_bias":{"3":500})"), "logit_bias.3");
  EXPECT_EQ(chat_param(R"(,"stop_token_ids":[-1])"), "stop_token_ids");
  EXPECT_EQ(chat_param(R"(,"ignore_eos":1)"), "ignore_eos");
  EXPECT_EQ(chat_param(R"(,"max_tokens":4,"min_tokens":5)"), "min_tokens");
  EXPECT_EQ(chat_param(R"(,"max_completion_tokens":-3)"), "max_completion_tokens");
  EXPECT_EQ(chat_param(R"(,"sampling_parameters":"hot")"), "sampling_parameters");
  EXPECT_EQ(chat_param(R"(,"sampling_parameters":{"temperature":"hot"})"), "sampling_parameters.temperature");
  EXPECT_EQ(chat_param(R"(,"sampling_parameters":{"max_new_tokens":0})"), "sampling_parameters.max_new_tokens");
  EXPECT_EQ(chat_param(R"(,"sampling_parameters":{"do_sample":"no"})"), "sampling_parameters.do_sample");
  EXPECT_EQ(chat_param(R"(,"n":2)"), "n");
  EXPECT_EQ(chat_param(R"(,"seed":"x")"), "seed");
  EXPECT_EQ(chat_param(R"(,"model":5)"), "model");
  // Integral floats are integers (Python clients send 16.0 now and then); others are not.
  EXPECT_EQ(chat(R"(,"max_tokens":16.0)").completion.max_tokens, 16);
  EXPECT_EQ(chat_param(R"(,"max_tokens":16.5)"), "max_tokens");
}

TEST(OpenAICompletionsFields, PromptShapes) {
  auto one = openai::decode_completions_request(R"({"prompt":"Once upon","max_tokens":5})", kLimits);
  ASSERT_EQ(one.prompts.size(), 1u);
  EXPECT_EQ(*one.prompts[0].text, "Once upon");
  EXPECT_EQ(one.completion.max_tokens, 5);

  auto many = openai::decode_completions_request(R"({"prompt":["a","b","c"]})", kLimits);
  ASSERT_EQ(many.prompts.size(), 3u);
  EXPECT_EQ(*many.prompts[2].text, "c");

  auto ids = openai::decode_completions_request(R"({"prompt":[1,2,3],"echo":true})", kLimits);
  ASSERT_EQ(ids.prompts.size(), 1u);
  EXPECT_FALSE(ids.prompts[0].text.has_value());
  EXPECT_EQ(ids.prompts[0].ids, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_TRUE(ids.echo);

  auto id_lists = openai::decode_completions_request(R"({"prompt":[[1,2],[3]],"logprobs":3})", kLimits);
  ASSERT_EQ(id_lists.prompts.size(), 2u);
  EXPECT_EQ(id_lists.prompts[1].ids, std::vector<int32_t>{3});
  EXPECT_EQ(id_lists.logprobs, 3);
  EXPECT_EQ(id_lists.completion.logprobs, 3);

  auto plain = openai::decode_completions_request(R"({"prompt":"x","suffix":"","best_of":1,"add_special_tokens":false})", kLimits);
  EXPECT_FALSE(plain.add_special_tokens);
  EXPECT_EQ(plain.logprobs, -1);
}

TEST(OpenAICompletionsFields, RefusalsNameTheField) {
  EXPECT_EQ(completions_param(R"({"max_tokens":5})"), "prompt");
  EXPECT_EQ(completions_param(R"({"prompt":[]})"), "prompt");
  EXPECT_EQ(completions_param(R"({"prompt":5})"), "prompt");
  EXPECT_EQ(completions_param(R"({"prompt":[1,"a"]})"), "prompt");
  EXPECT_EQ(completions_param(R"({"prompt":["a",[]]})"), "prompt[1]");
  EXPECT_EQ(completions_param(R"({"prompt":["a",{}]})"), "prompt[1]");
  EXPECT_EQ(completions_param(R"({"prompt":[-4]})"), "prompt");
  EXPECT_EQ(completions_param(R"({"prompt":"x","suffix":"y"})"), "suffix");
  EXPECT_EQ(completions_param(R"({"prompt":"x","best_of":2})"), "best_of");
  EXPECT_EQ(completions_param(R"({"prompt":"x","echo":true,"logprobs":1})"), "echo");
  EXPECT_EQ(completions_param(R"({"prompt":"x","logprobs":21})"), "logprobs");
  EXPECT_EQ(completions_param(R"({"prompt":"x","logprobs":true})"), "logprobs");
  EXPECT_EQ(completions_param(R"({"prompt":"x","echo":"y"})"), "echo");
  EXPECT_EQ(completions_param(R"({"prompt":"x","sampling_parameters":{"top_p":0}})"), "sampling_parameters.top_p");
}

}  // namespace
}  // namespace ember::net
