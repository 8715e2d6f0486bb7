// The overlapped step loop (EngineConfig::async_scheduling): step N+1 is built while a runner
// that finishes after an injected delay runs step N. The tokens must be those of the
// synchronous loop and of the unbatched reference, through chunked prefill, preemption,
// prefix reuse, n > 1 forks, penalties, stop tokens and max_tokens.
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <chrono>
#include <memory>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>

#include "engine/serve/scheduler.h"
#include "tests/serve/serve_test_util.h"

namespace ember {
namespace {

using test::FakeModel;
using test::make_prompt;
using test::prepared;
using test::reference_tokens;
using test::run_to_end;

// The fake model behind a step that takes `delay` to come back, run on the pipeline's worker.
class DelayedModel : public FakeModel {
 public:
  using FakeModel::FakeModel;
  std::chrono::microseconds delay{300};
  void forward(const StepInput& in, std::vector<float>& logits) override {
    std::this_thread::sleep_for(delay);
    FakeModel::forward(in, logits);
  }
};


struct Workload {
  std::vector<std::vector<int32_t>> prompts;
  std::vector<SamplingParams> params;
  std::vector<int> n;
};

Workload make_workload(int vocab) {
  Workload w;
  const auto shared_system = make_prompt(12, 99, vocab);
  for (int i = 0; i < 24; ++i) {
    auto p = make_prompt(3 + (i * 7) % 30, 200 + i, vocab);
    if (i % 3 == 0) p.insert(p.begin(), shared_system.begin(), shared_system.end());
    w.prompts.push_back(p);
    SamplingParams sp;
    sp.temperature = 0.9f;
    sp.top_p = 0.95f;
    sp.max_tokens = 8 + (i * 5) % 25;
    if (i % 4 == 1) sp.top_k = 5;
    if (i % 4 == 2) sp.repetition_penalty = 1.3f, sp.frequency_penalty = 0.5f;
    if (i % 4 == 3) sp.presence_penalty = 0.8f;
    if (i % 5 == 3) sp.xtc_probability = 0.5f, sp.min_p = 0.05f;
    if (i % 6 == 5) sp.stop_token_ids = {int32_t(i % vocab), int32_t((i * 13) % vocab)};
    w.params.push_back(sp);
    w.n.push_back(i % 7 == 4 ? 3 : 1);  // n > 1 with and without penalties
  }
  return w;
}

struct Outcome {
  std::vector<RequestResult> results;
  EngineStats stats;
  int64_t model_steps = 0;
};

Outcome run_workload(const Workload& w, bool async, int blocks) {
  DelayedModel m(48, blocks, 4);
  EngineConfig cfg;
  cfg.max_batched_tokens = 16;
  cfg.async_scheduling = async;
  Outcome out;
  {
    Scheduler s(m, cfg, nullptr);
    std::vector<std::shared_ptr<RequestStream>> streams;
    for (size_t i = 0; i < w.prompts.size(); ++i) {
      auto r = prepared(i, w.prompts[i], w.params[i], 5000 + i, w.n[i]);
      streams.push_back(r.stream);
      s.add(std::move(r));
      if (i % 4 == 3) s.step();  // later requests join a batch in flight
    }
    run_to_end(s);
    for (auto& st : streams) out.results.push_back(test::collect(st));
    out.stats = s.stats();
    EXPECT_EQ(s.kv().pool().num_in_use(), 0);
    s.kv().check_invariants();
  }
  out.model_steps = m.steps;
  return out;
}

TEST(AsyncScheduling, SameTokensAsSynchronousAndAsTheReference) {
  const Workload w = make_workload(48);
  const Outcome sync = run_workload(w, false, 40);
  const Outcome async = run_workload(w, true, 40);
  FakeModel ref(48, 64, 4);
  for (size_t i = 0; i < w.prompts.size(); ++i) {
    ASSERT_EQ(async.results[i].completions.size(), size_t(w.n[i]));
    for (int c = 0; c < w.n[i]; ++c) {
      const auto want = reference_tokens(ref, w.prompts[i], w.params[i], 5000 + i, c);
      EXPECT_EQ(sync.results[i].completions[size_t(c)].tokens, want) << "sync request " << i;
      EXPECT_EQ(async.results[i].completions[size_t(c)].tokens, want)
          << "async request " << i << " completion " << c;
      EXPECT_EQ(async.results[i].completions[size_t(c)].reason,
                sync.results[i].completions[size_t(c)].reason);
    }
  }
  // The pool was too small for everyone, so penalties had to survive recompute; the shared
  // system prompt was reused.
  EXPECT_GT(sync.stats.preemptions, 0);
  EXPECT_GT(async.stats.preemptions, 0);
  EXPECT_GT(async.stats.prefix_hit_tokens, 0);
  EXPECT_EQ(async.stats.generated_tokens, sync.stats.generated_tokens);
}

// Penalties read the history in the slots: n > 1 completions forked off one prompt, then
// preempted (the newest sequences go first) and recomputed, must draw as the unbatched
// reference does, with and without the overlap.
TEST(AsyncScheduling, PenaltiesSurviveForksAndPreemption) {
  for (bool async : {false, true}) {
    SCOPED_TRACE(async ? "async" : "sync");
    DelayedModel m(48, 12, 4);  // 48 token slots: not enough for A and B's three completions
    EngineConfig cfg;
    cfg.async_scheduling = async;
    cfg.max_batched_tokens = 8;
    Scheduler s(m, cfg, nullptr);
    SamplingParams a_sp;
    a_sp.temperature = 0.8f;
    a_sp.max_tokens = 14;
    SamplingParams b_sp = a_sp;
    b_sp.repetition_penalty = 1.4f;
    b_sp.presence_penalty = 0.6f;
    b_sp.frequency_penalty = 0.9f;
    const auto a_prompt = make_prompt(6, 31, 48), b_prompt = make_prompt(7, 32, 48);
    auto a = prepared(1, a_prompt, a_sp, 11);
    auto b = prepared(2, b_prompt, b_sp, 12, 3);
    auto as = a.stream, bs = b.stream;
    s.add(std::move(a));
    s.add(std::move(b));
    run_to_end(s);
    EXPECT_GT(s.stats().preemptions, 0);
    FakeModel ref(48, 64, 4);
    EXPECT_EQ(test::collect(as).completions.at(0).tokens,
              reference_tokens(ref, a_prompt, a_sp, 11));
    const auto res = test::collect(bs);
    ASSERT_EQ(res.completions.size(), 3u);
    for (int c = 0; c < 3; ++c)
      EXPECT_EQ(res.completions[size_t(c)].tokens, reference_tokens(ref, b_prompt, b_sp, 12, c))
          << "completion " << c;
    // The penalties changed the draws (else this would test nothing about them).
    SamplingParams plain = b_sp;
    plain.repetition_penalty = 1.f, plain.presence_penalty = 0.f, plain.frequency_penalty = 0.f;
    EXPECT_NE(res.completions[0].tokens, reference_tokens(ref, b_prompt, plain, 12, 0));
    EXPECT_EQ(s.kv().pool().num_in_use(), 0);
  }
}

// A model whose steps wait for the test to open a gate (at most 5 s, then they note that they
// gave up): a scheduler that waited for the step would only come back after that.
class GatedModel : public FakeModel {
 public:
  using FakeModel::FakeModel;
  void open() {
    {
      std::lock_guard lock(mu_);
      open_ = true;
    }
    cv_.notify_all();
  }
  std::atomic<bool> gave_up{false};
  void forward(const StepInput& in, std::vector<float>& logits) override {
    {
      std::unique_lock lock(mu_);
      if (!cv_.wait_for(lock, std::chrono::seconds(5), [&] { return open_; })) gave_up = true;
    }
    FakeModel::forward(in, logits);
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

TEST(AsyncScheduling, AStepIsBuiltWhileThePreviousOneRuns) {
  GatedModel m(48, 64, 4);
  EngineConfig cfg;
  cfg.async_scheduling = true;
  Scheduler s(m, cfg, nullptr);
  SamplingParams sp;
  sp.max_tokens = 6;
  auto r = prepared(1, make_prompt(5, 3, 48), sp, 9);
  auto st = r.stream;
  s.add(std::move(r));
  // The first call submits the prefill and returns while the model is held at the gate.
  s.step();
  EXPECT_FALSE(m.gave_up) << "step() waited for the model";
  EXPECT_EQ(s.stats().steps, 1);
  EXPECT_EQ(s.stats().generated_tokens, 0);
  m.open();
  // The second submits the first decode (its input token pending) and lands the prefill's draw.
  s.step();
  EXPECT_EQ(s.stats().generated_tokens, 1);
  EXPECT_EQ(s.stats().steps, 2);
  run_to_end(s);
  EXPECT_FALSE(m.gave_up);
  EXPECT_EQ(test::collect(st).completions.at(0).tokens,
            reference_tokens(m, make_prompt(5, 3, 48), sp, 9));
}

TEST(AsyncScheduling, NoRowIsSpentOnASequenceItsDrawInFlightWillEnd) {
  // max_tokens is known ahead: the step after the last draw does not include the sequence, so
  // the model runs exactly the prefill and max_tokens - 1 decodes, as synchronously.
  for (bool async : {false, true}) {
    DelayedModel m(48, 64, 4);
    EngineConfig cfg;
    cfg.async_scheduling = async;
    Scheduler s(m, cfg, nullptr);
    SamplingParams sp;
    sp.max_tokens = 7;
    sp.temperature = 0.f;
    s.add(prepared(1, make_prompt(6, 4, 48), sp, 1));
    run_to_end(s);
    EXPECT_EQ(m.steps, 7) << (async ? "async" : "sync");
  }
}

TEST(AsyncScheduling, ASequenceEndedByItsDrawInFlightStreamsNothingMore) {
  // A stop token cannot be known ahead: the sequence's row in the step already in flight is
  // computed and dropped. Its completion ends at the stop token all the same.
  FakeModel probe(48, 64, 4);
  const auto prompt = make_prompt(9, 11, 48);
  SamplingParams sp;
  sp.temperature = 0.f;
  sp.max_tokens = 12;
  const auto free_run = reference_tokens(probe, prompt, sp, 3);
  ASSERT_GE(free_run.size(), 5u);
  sp.stop_token_ids = {free_run[3]};
  const auto want = reference_tokens(probe, prompt, sp, 3);
  DelayedModel m(48, 64, 4);
  EngineConfig cfg;
  cfg.async_scheduling = true;
  Scheduler s(m, cfg, nullptr);
  auto r = prepared(1, prompt, sp, 3);
  auto st = r.stream;
  s.add(std::move(r));
  run_to_end(s);
  const auto res = test::collect(st);
  EXPECT_EQ(res.completions.at(0).tokens, want);
  EXPECT_EQ(res.completions.at(0).reason, FinishReason::Stop);
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
  EXPECT_EQ(m.steps, int(want.size()) + 2) << "the prefill, the decodes, and one dropped row";
}

TEST(AsyncScheduling, ModelErrorsEndTheRequestsOfBothStepsAndLoseNoBlocks) {
  DelayedModel m(48, 64, 4);
  m.fail_at_step = 4;
  EngineConfig cfg;
  cfg.async_scheduling = true;
  Scheduler s(m, cfg, nullptr);
  SamplingParams sp;
  sp.max_tokens = 20;
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 3; ++i) {
    auto r = prepared(i, make_prompt(4 + i, 20 + i, 48), sp, i);
    streams.push_back(r.stream);
    s.add(std::move(r));
  }
  run_to_end(s);
  for (auto& st : streams) {
    const auto res = test::collect(st);
    EXPECT_EQ(res.completions.at(0).reason, FinishReason::Error);
    EXPECT_NE(res.completions.at(0).error.find("injected failure"), std::string::npos)
        << res.completions.at(0).error;
  }
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
  s.kv().check_invariants();
}

TEST(AsyncScheduling, AbortWithAStepInFlightEndsEveryoneAndWaitsForTheStep) {
  DelayedModel m(48, 64, 4);
  m.delay = std::chrono::milliseconds(5);
  EngineConfig cfg;
  cfg.async_scheduling = true;
  auto s = std::make_unique<Scheduler>(m, cfg, nullptr);
  SamplingParams sp;
  sp.max_tokens = 50;
  auto r = prepared(1, make_prompt(6, 2, 48), sp, 1, 2);
  auto st = r.stream;
  s->add(std::move(r));
  s->step();
  s->step();
  s->abort_all(FinishReason::Cancelled, "shutting down");
  EXPECT_FALSE(s->has_work());
  const auto res = test::collect(st);
  ASSERT_EQ(res.completions.size(), 2u);
  for (const auto& c : res.completions) EXPECT_EQ(c.reason, FinishReason::Cancelled);
  EXPECT_EQ(s->kv().pool().num_in_use(), 0);
  s.reset();  // no step left running against freed requests (ASan/TSan builds would see it)
}

}  // namespace
}  // namespace ember
