// The threaded Engine on the fake model: thread-safe submit and cancel, handles, validation
// errors, text and stop strings through a text codec, shutdown.
#include "engine/serve/engine.h"

#include <thread>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/serve/serve_test_util.h"

namespace ember {
namespace {

using test::FakeModel;
using test::make_prompt;
using test::reference_tokens;

// Token id v decodes to a letter; some ids decode to two letters.
class LetterCodec : public TextCodec {
 public:
  std::vector<int32_t> encode_chat(const std::vector<ChatMessage>& m) override {
    std::vector<int32_t> ids;
    for (auto& x : m)
      for (char c : x.role + ":" + x.content) ids.push_back(int32_t(uint8_t(c)) % 48);
    return ids;
  }
  std::string decode(std::span<const int32_t> ids) override {
    std::string s;
    for (int32_t i : ids) {
      s += char('a' + i % 26);
      if (i >= 40) s += 'z';
    }
    return s;
  }
};

SamplingParams seeded(int max_tokens, uint64_t seed) {
  SamplingParams p;
  p.temperature = 0.8f;
  p.max_tokens = max_tokens;
  p.seed = seed;
  return p;
}

TEST(Engine, ConcurrentSubmittersGetTheirOwnReferenceOutputs) {
  auto model = std::make_shared<FakeModel>(48, 48, 4);
  EngineConfig cfg;
  cfg.max_batched_tokens = 24;
  Engine engine(model, cfg);
  std::vector<std::thread> threads;
  std::atomic<int> mismatches{0}, done{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        const int k = t * 8 + i;
        ChatRequest req;
        req.prompt_ids = make_prompt(5 + k % 17, 500 + k, 48);
        req.sampling = seeded(6 + k % 9, 900 + k);
        const auto expected = reference_tokens(*model, req.prompt_ids, req.sampling, 900 + k);
        auto h = engine.submit(req);
        const auto r = h.wait();
        if (r.completions.at(0).tokens != expected) ++mismatches;
        ++done;
      }
    });
  for (auto& th : threads) th.join();
  EXPECT_EQ(done.load(), 32);
  EXPECT_EQ(mismatches.load(), 0);
  const auto st = engine.wait_idle();
  EXPECT_EQ(st.kv_blocks_in_use, 0);
  EXPECT_GT(st.kv_blocks_peak, 0);
}

TEST(Engine, CancelFromAnotherThreadEndsTheStreamAndFreesBlocks) {
  // Room for far more tokens than the request can make before the cancel lands: it must end
  // by the cancel, not by filling the cache (which would end it with `length`).
  auto model = std::make_shared<FakeModel>(48, 1 << 16, 16, 1 << 20);
  Engine engine(model);
  ChatRequest req;
  req.prompt_ids = make_prompt(10, 1, 48);
  req.sampling = seeded(100000, 3);
  req.sampling.ignore_eos = true;
  auto h = engine.submit(req);
  int tokens = 0;
  bool cancelled = false;
  std::optional<FinishReason> reason;
  while (auto e = h.next()) {
    tokens += int(e->tokens.size());
    // One event may carry several tokens, so the count can step past 3.
    if (tokens >= 3 && !cancelled) {
      std::thread([h]() mutable { h.cancel(); }).join();
      cancelled = true;
    }
    if (e->finish) reason = e->finish;
  }
  EXPECT_EQ(reason, FinishReason::Cancelled);
  EXPECT_LT(tokens, 100000);
  EXPECT_EQ(engine.wait_idle().kv_blocks_in_use, 0);
}

TEST(Engine, InvalidRequestsEndWithAnErrorNamingTheProblem) {
  auto model = std::make_shared<FakeModel>(48, 8, 4);
  Engine engine(model);
  auto error_of = [&](ChatRequest req) {
    const auto r = engine.submit(std::move(req)).wait();
    EXPECT_EQ(r.completions.at(0).reason, FinishReason::Error);
    return r.completions.at(0).error;
  };
  ChatRequest ok;
  ok.prompt_ids = {1, 2, 3};
  ChatRequest bad = ok;
  bad.sampling.top_p = 2;
  EXPECT_THAT(error_of(bad), ::testing::HasSubstr("top_p"));
  bad = ok;
  bad.prompt_ids = {1, 99};
  EXPECT_THAT(error_of(bad), ::testing::HasSubstr("prompt_ids"));
  bad = ChatRequest{};
  bad.messages = {{"user", "hi"}};
  EXPECT_THAT(error_of(bad), ::testing::HasSubstr("messages"));
  bad = ok;
  bad.prompt_ids = make_prompt(40, 1, 48);  // the pool holds 32 tokens
  EXPECT_THAT(error_of(bad), ::testing::HasSubstr("KV cache"));
  bad = ok;
  bad.sampling.stop = {"x"};
  EXPECT_THAT(error_of(bad), ::testing::HasSubstr("stop"));
  bad = ok;
  bad.sampling.n = 3;
  bad.sampling.temperature = -1;
  const auto r = engine.submit(bad).wait();  // every completion ends, none hangs
  EXPECT_EQ(r.completions.size(), 3u);
  EXPECT_EQ(engine.submit(ok).wait().completions.at(0).reason, FinishReason::Length);
}

TEST(Engine, MessagesAndStopStringsGoThroughTheTextCodec) {
  auto model = std::make_shared<FakeModel>(48, 64, 4);
  auto codec = std::make_shared<LetterCodec>();
  Engine engine(model, EngineConfig{}, codec);
  ChatRequest req;
  req.messages = {{"system", "be brief"}, {"user", "hello"}};
  req.sampling = seeded(30, 12);
  const auto prompt = codec->encode_chat(req.messages);
  const auto ids = reference_tokens(*model, prompt, req.sampling, 12);
  const std::string full = codec->decode(ids);
  auto free_run = engine.submit(req).wait();
  EXPECT_EQ(free_run.completions[0].tokens, ids);
  EXPECT_EQ(free_run.completions[0].text, full);
  EXPECT_EQ(free_run.prompt_tokens, int(prompt.size()));
  // Stop at a two-letter string from the middle of the text.
  const std::string stop = full.substr(10, 2);
  req.sampling.stop = {stop};
  auto stopped = engine.submit(req).wait();
  EXPECT_EQ(stopped.completions[0].reason, FinishReason::Stop);
  EXPECT_EQ(stopped.completions[0].text, full.substr(0, full.find(stop)));
}

TEST(Engine, NCompletionsStreamWithTheirIndex) {
  auto model = std::make_shared<FakeModel>(48, 64, 4);
  Engine engine(model);
  ChatRequest req;
  req.prompt_ids = make_prompt(7, 5, 48);
  req.sampling = seeded(8, 4);
  req.sampling.n = 4;
  const auto r = engine.submit(req).wait();
  ASSERT_EQ(r.completions.size(), 4u);
  for (int i = 0; i < 4; ++i)
    EXPECT_EQ(r.completions[i].tokens, reference_tokens(*model, req.prompt_ids, req.sampling, 4, i));
}

TEST(Engine, UnseededRequestsGetAFreshSeedEach) {
  // A flat distribution over 48 tokens: two 32-token replies agree by chance with probability
  // 48^-32, so equal replies mean the seed was not fresh.
  auto model = std::make_shared<FakeModel>(48, 64, 4);
  model->spread = 0.f;
  ASSERT_EQ(model->logits_for({1, 2, 3}), std::vector<float>(48, 0.f));
  Engine engine(model);
  ChatRequest req;
  req.prompt_ids = make_prompt(6, 77, 48);
  req.sampling.max_tokens = 32;  // no seed
  const auto a = engine.submit(req).wait();
  const auto b = engine.submit(req).wait();
  ASSERT_EQ(a.completions.at(0).tokens.size(), 32u);
  ASSERT_EQ(b.completions.at(0).tokens.size(), 32u);
  EXPECT_NE(a.completions[0].tokens, b.completions[0].tokens);
  // The same request with a seed repeats itself: the difference above is the seed's doing.
  req.sampling.seed = 5;
  EXPECT_EQ(engine.submit(req).wait().completions.at(0).tokens,
            engine.submit(req).wait().completions.at(0).tokens);
}

TEST(Engine, ShutdownEndsOutstandingRequests) {
  // Room for a million tokens: the request must still be running when the engine goes away,
  // not finished by filling the cache (which would end it with `length`).
  auto model = std::make_shared<FakeModel>(48, 1 << 16, 16, 1 << 20);
  RequestHandle h;
  {
    Engine engine(model);
    ChatRequest req;
    req.prompt_ids = {1, 2, 3};
    req.sampling.max_tokens = 1 << 30;
    req.sampling.ignore_eos = true;
    h = engine.submit(req);
    h.next();  // it is running
  }
  const auto r = h.wait();
  EXPECT_EQ(r.completions.at(0).reason, FinishReason::Cancelled);
  h.cancel();  // harmless after the engine is gone
}

}  // namespace
}  // namespace ember
