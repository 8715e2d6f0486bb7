// The scheduler driven step by step on the fake model: continuous batching, chunked prefill,
// decode priority, preemption, n > 1 with copy-on-write, prefix reuse, deadlines, cancels and
// errors, and exact block accounting.
#include "engine/serve/scheduler.h"

#include <algorithm>
#include <memory>
#include <random>

#include <gtest/gtest.h>

#include "tests/serve/serve_test_util.h"

namespace ember {
namespace {

using test::FakeModel;
using test::make_prompt;
using test::prepared;
using test::reference_tokens;
using test::run_to_end;


SamplingParams sampled(int max_tokens) {
  SamplingParams p;
  p.temperature = 0.9f;
  p.top_p = 0.95f;
  p.max_tokens = max_tokens;
  return p;
}

TEST(Scheduler, SingleRequestMatchesTheUnbatchedReference) {
  FakeModel m;
  Scheduler s(m, EngineConfig{}, nullptr);
  const auto prompt = make_prompt(13, 1, m.vocab_size());
  auto r = prepared(1, prompt, sampled(20), 42);
  auto stream = r.stream;
  s.add(std::move(r));
  run_to_end(s);
  const auto res = test::collect(stream);
  ASSERT_EQ(res.completions.size(), 1u);
  EXPECT_EQ(res.completions[0].reason, FinishReason::Length);
  EXPECT_EQ(res.completions[0].tokens, reference_tokens(m, prompt, sampled(20), 42));
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
}

TEST(Scheduler, StepTimesAreCountedInTheHistogramByTheirDuration) {
  FakeModel m;
  EngineConfig cfg;
  // A simulated clock: each reading advances 3 ms, so every step takes exactly 3 ms
  // (one reading before the forward, one after), which falls in the (2.5 ms, 5 ms] bucket.
  auto t = std::make_shared<Clock::time_point>();
  cfg.now = [t] { return *t += std::chrono::milliseconds(3); };
  Scheduler s(m, cfg, nullptr);
  s.add(prepared(1, make_prompt(6, 1, m.vocab_size()), sampled(5), 3));
  run_to_end(s);
  const EngineStats st = s.stats();
  ASSERT_GT(st.steps, 0);
  int64_t counted = 0;
  for (int64_t c : st.step_time_buckets) counted += c;
  EXPECT_EQ(counted, st.steps);
  const auto& b = EngineStats::kStepTimeBounds;
  const size_t bucket = std::lower_bound(b.begin(), b.end(), 0.003) - b.begin();
  EXPECT_EQ(st.step_time_buckets[bucket], st.steps) << "every step took 3 ms";
  EXPECT_NEAR(st.step_time_sum_s, 0.003 * double(st.steps), 1e-9);
}

TEST(Scheduler, HigherPriorityWaitingRequestsStartFirst) {
  FakeModel m;
  EngineConfig cfg;
  cfg.max_num_seqs = 1;  // one sequence at a time: the admission order is the finishing order
  Scheduler s(m, cfg, nullptr);
  std::vector<std::shared_ptr<RequestStream>> streams;
  const double priorities[] = {0, 0, 5, 1};  // arrival order
  for (int i = 0; i < 4; ++i) {
    auto r = prepared(uint64_t(i + 1), make_prompt(4, i + 1, m.vocab_size()), sampled(2), 9);
    r.priority = priorities[i];
    streams.push_back(r.stream);
    s.add(std::move(r));
  }
  std::vector<int> finished_order;
  for (int step = 0; step < 1000 && s.has_work(); ++step) {
    s.step();
    for (int i = 0; i < 4; ++i)
      while (auto e = streams[size_t(i)]->pop(std::chrono::milliseconds(0)))
        if (e->finish) finished_order.push_back(i);
  }
  // Stake 5 first, then stake 1, then the two unknown callers in arrival order.
  EXPECT_EQ(finished_order, (std::vector<int>{2, 3, 0, 1}));
}

TEST(Scheduler, StopTokenEndsWithReasonStopAndIsNotReturned) {
  FakeModel m;
  Scheduler s(m, EngineConfig{}, nullptr);
  const auto prompt = make_prompt(9, 2, m.vocab_size());
  SamplingParams p = sampled(40);
  const auto free_run = reference_tokens(m, prompt, p, 7);
  p.stop_token_ids = {free_run[5]};
  auto r = prepared(1, prompt, p, 7);
  auto stream = r.stream;
  s.add(std::move(r));
  run_to_end(s);
  const auto res = test::collect(stream);
  EXPECT_EQ(res.completions[0].reason, FinishReason::Stop);
  const auto expected = reference_tokens(m, prompt, p, 7);
  EXPECT_LE(expected.size(), 5u);
  EXPECT_EQ(res.completions[0].tokens, expected);
}

TEST(Scheduler, ChunkedPrefillDoesNotStallRunningDecodes) {
  FakeModel m(48, 128, 4);
  EngineConfig cfg;
  cfg.max_batched_tokens = 8;
  Scheduler s(m, cfg, nullptr);
  auto a = prepared(1, make_prompt(5, 3, 48), sampled(50), 1);
  auto a_stream = a.stream;
  s.add(std::move(a));
  s.step();  // A's whole prompt fits in one step; A now decodes
  auto b = prepared(2, make_prompt(100, 4, 48), sampled(5), 2);
  auto b_stream = b.stream;
  s.add(std::move(b));
  for (int i = 0; i < 6; ++i) s.step();
  // A produced a token in every step (1 + 6), while B's 100-token prompt is still being
  // prefilled 7 tokens at a time.
  int a_tokens = 0, b_tokens = 0;
  while (auto e = a_stream->pop(std::chrono::milliseconds(0))) a_tokens += int(e->tokens.size());
  while (auto e = b_stream->pop(std::chrono::milliseconds(0))) b_tokens += int(e->tokens.size());
  EXPECT_EQ(a_tokens, 7);
  EXPECT_EQ(b_tokens, 0);
  EXPECT_LE(m.max_batch_tokens, 8);
  run_to_end(s);
}

// The acceptance test for batch invariance: the same 20 seeded requests run alone and together
// (small step budget, so prefill is chunked; small pool, so some are preempted and recomputed)
// give identical tokens.
TEST(Scheduler, BatchInvarianceTwentySeededRequestsAloneAndTogether) {
  const int kVocab = 48;
  std::vector<std::vector<int32_t>> prompts;
  std::vector<SamplingParams> params;
  const auto shared_system = make_prompt(12, 99, kVocab);  // a common "system prompt"
  for (int i = 0; i < 20; ++i) {
    auto p = make_prompt(3 + (i * 7) % 30, 100 + i, kVocab);
    if (i % 3 == 0) p.insert(p.begin(), shared_system.begin(), shared_system.end());
    prompts.push_back(p);
    SamplingParams sp = sampled(10 + (i * 5) % 25);
    if (i % 4 == 1) sp.top_k = 5;
    if (i % 4 == 2) sp.repetition_penalty = 1.3f, sp.frequency_penalty = 0.5f;
    if (i % 5 == 3) sp.xtc_probability = 0.5f, sp.min_p = 0.05f;
    params.push_back(sp);
  }
  std::vector<std::vector<int32_t>> alone;
  for (int i = 0; i < 20; ++i) {
    FakeModel m(kVocab, 64, 4);
    Scheduler s(m, EngineConfig{}, nullptr);
    auto r = prepared(i, prompts[i], params[i], 1000 + i);
    auto st = r.stream;
    s.add(std::move(r));
    run_to_end(s);
    alone.push_back(test::collect(st).completions.at(0).tokens);
    EXPECT_EQ(alone.back(), reference_tokens(m, prompts[i], params[i], 1000 + i));
  }
  FakeModel m(kVocab, 40, 4);  // 160 token slots for ~20 requests of up to 70 tokens
  EngineConfig cfg;
  cfg.max_batched_tokens = 16;
  Scheduler s(m, cfg, nullptr);
  std::vector<std::shared_ptr<RequestStream>> streams;
  for (int i = 0; i < 20; ++i) {
    auto r = prepared(i, prompts[i], params[i], 1000 + i);
    streams.push_back(r.stream);
    s.add(std::move(r));
    if (i % 4 == 3) s.step();  // later requests join a running batch
  }
  run_to_end(s);
  for (int i = 0; i < 20; ++i) {
    const auto res = test::collect(streams[i]);
    EXPECT_EQ(res.completions.at(0).tokens, alone[i]) << "request " << i;
    EXPECT_EQ(res.completions.at(0).reason, FinishReason::Length);
  }
  EXPECT_GT(s.stats().preemptions, 0) << "the pool was meant to be too small for everyone";
  EXPECT_GT(s.stats().prefix_hit_tokens, 0);
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
  s.kv().check_invariants();
}

TEST(Scheduler, PreemptsTheNewestRunningRequest) {
  FakeModel m(48, 6, 4);  // 24 token slots
  Scheduler s(m, EngineConfig{}, nullptr);
  auto a = prepared(1, make_prompt(6, 5, 48), sampled(14), 1);
  auto b = prepared(2, make_prompt(6, 6, 48), sampled(14), 2);
  auto as = a.stream, bs = b.stream;
  s.add(std::move(a));
  s.add(std::move(b));
  std::vector<int> a_progress;
  bool b_was_preempted_while_a_ran = false;
  while (s.has_work()) {
    const auto before = s.stats().preemptions;
    s.step();
    if (s.stats().preemptions > before && !as->drained()) {
      // A, the older one, keeps its blocks; B goes back to waiting.
      b_was_preempted_while_a_ran = s.stats().waiting == 1 && s.stats().running == 1;
    }
  }
  EXPECT_TRUE(b_was_preempted_while_a_ran);
  EXPECT_EQ(test::collect(as).completions[0].tokens,
            reference_tokens(m, make_prompt(6, 5, 48), sampled(14), 1));
  EXPECT_EQ(test::collect(bs).completions[0].tokens,
            reference_tokens(m, make_prompt(6, 6, 48), sampled(14), 2));
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
}

TEST(Scheduler, NCompletionsShareThePromptAndCopyOnWrite) {
  FakeModel m(48, 64, 4);
  Scheduler s(m, EngineConfig{}, nullptr);
  const auto prompt = make_prompt(10, 7, 48);  // 2 full blocks + a shared partial block
  auto r = prepared(1, prompt, sampled(12), 77, 3);
  auto st = r.stream;
  s.add(std::move(r));
  run_to_end(s);
  const auto res = test::collect(st);
  ASSERT_EQ(res.completions.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(res.completions[i].tokens, reference_tokens(m, prompt, sampled(12), 77, i))
        << "completion " << i;
  EXPECT_NE(res.completions[0].tokens, res.completions[1].tokens);
  EXPECT_EQ(s.stats().prompt_tokens_computed, 9);  // the prompt ran once, not three times
  EXPECT_EQ(m.copies_done, 2);  // two of the three wrote into the shared partial block
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
}

TEST(Scheduler, SamePromptReusesPrefillWork) {
  FakeModel m(48, 64, 4);
  Scheduler s(m, EngineConfig{}, nullptr);
  const auto prompt = make_prompt(30, 8, 48);
  auto a = prepared(1, prompt, sampled(5), 1);
  auto as = a.stream;
  s.add(std::move(a));
  run_to_end(s);
  const int64_t computed_first = s.stats().prompt_tokens_computed;
  auto b = prepared(2, prompt, sampled(5), 2);
  auto bs = b.stream;
  s.add(std::move(b));
  run_to_end(s);
  const auto res = test::collect(bs);
  EXPECT_EQ(res.cached_prompt_tokens, 28);  // 7 full blocks of 4
  EXPECT_EQ(s.stats().prompt_tokens_computed - computed_first, 1);
  ASSERT_EQ(res.completions.size(), 1u);
  EXPECT_EQ(res.completions[0].tokens, reference_tokens(m, prompt, sampled(5), 2));
}

TEST(Scheduler, DeadlineStopsEarlyWithWhatItHas) {
  FakeModel m;
  test::FakeClock clock;
  m.clock = &clock;  // every step costs 10 ms of simulated time
  EngineConfig cfg;
  cfg.now = [&] { return clock.now(); };
  cfg.deadline_margin = std::chrono::milliseconds(15);
  Scheduler s(m, cfg, nullptr);
  auto r = prepared(1, make_prompt(8, 9, 48), sampled(1000), 3);
  const auto deadline = clock.now() + std::chrono::milliseconds(200);
  r.deadline = deadline;
  auto st = r.stream;
  s.add(std::move(r));
  run_to_end(s);
  RequestHandle h(st);
  Clock::time_point finished_at;
  std::vector<int32_t> got;
  while (auto e = h.next()) {
    got.insert(got.end(), e->tokens.begin(), e->tokens.end());
    if (e->finish) {
      EXPECT_EQ(*e->finish, FinishReason::Deadline);
      finished_at = e->time;
    }
  }
  EXPECT_LE(finished_at, deadline);
  // 200 ms at 10 ms a step, minus the margin and one step: about 17 tokens, never 1000.
  EXPECT_GE(got.size(), 10u);
  EXPECT_LT(got.size(), 20u);
  // A deadline already past ends the request before it runs.
  auto late = prepared(2, make_prompt(8, 10, 48), sampled(10), 3);
  late.deadline = clock.now();
  auto ls = late.stream;
  s.add(std::move(late));
  run_to_end(s);
  const auto res = test::collect(ls);
  EXPECT_EQ(res.completions[0].reason, FinishReason::Deadline);
  EXPECT_TRUE(res.completions[0].tokens.empty());
}

TEST(Scheduler, CancelFreesBlocksBeforeTheNextStep) {
  FakeModel m;
  Scheduler s(m, EngineConfig{}, nullptr);
  auto r = prepared(1, make_prompt(20, 11, 48), sampled(100), 3);
  auto st = r.stream;
  s.add(std::move(r));
  s.step();
  s.step();
  EXPECT_GT(s.kv().pool().num_in_use(), 0);
  st->request_cancel();
  const int steps_before = m.steps;
  s.step();
  EXPECT_EQ(m.steps, steps_before);  // nothing left to run
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
  const auto res = test::collect(st);
  EXPECT_EQ(res.completions[0].reason, FinishReason::Cancelled);
  EXPECT_EQ(res.completions[0].tokens.size(), 2u);
}

TEST(Scheduler, ModelErrorEndsTheBatchWithErrorAndFreesBlocks) {
  FakeModel m;
  m.fail_at_step = 3;
  Scheduler s(m, EngineConfig{}, nullptr);
  auto r = prepared(1, make_prompt(20, 12, 48), sampled(100), 3);
  auto st = r.stream;
  s.add(std::move(r));
  run_to_end(s);
  const auto res = test::collect(st);
  EXPECT_EQ(res.completions[0].reason, FinishReason::Error);
  EXPECT_NE(res.completions[0].error.find("injected failure"), std::string::npos);
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
}

// Randomized workload: arrivals, n > 1, stop tokens, cancels, injected model errors, deadlines
// and preemption on a small pool. Every block comes back and every request ends.
TEST(Scheduler, RandomizedWorkloadAccountsForEveryBlock) {
  std::mt19937 rng(7);
  FakeModel m(48, 24, 4);
  test::FakeClock clock;
  m.clock = &clock;
  EngineConfig cfg;
  cfg.max_batched_tokens = 12;
  cfg.now = [&] { return clock.now(); };
  Scheduler s(m, cfg, nullptr);
  std::vector<std::shared_ptr<RequestStream>> streams;
  int next_fail = 50;
  for (int step = 0; step < 3000; ++step) {
    if (streams.size() < 150 && rng() % 3 == 0) {
      SamplingParams sp = sampled(1 + int(rng() % 20));
      if (rng() % 4 == 0) sp.stop_token_ids = {int32_t(rng() % 48)};
      const int n = rng() % 5 == 0 ? 2 + int(rng() % 2) : 1;
      auto r = prepared(streams.size(), make_prompt(1 + int(rng() % 40), uint32_t(rng()), 48),
                        sp, rng(), n);
      if (rng() % 6 == 0) r.deadline = clock.now() + std::chrono::milliseconds(rng() % 300);
      streams.push_back(r.stream);
      s.add(std::move(r));
    }
    if (!streams.empty() && rng() % 10 == 0) streams[rng() % streams.size()]->request_cancel();
    if (m.steps >= next_fail) {
      m.fail_at_step = m.steps + 1;
      next_fail += 97;
    }
    s.step();
    s.kv().check_invariants();
  }
  run_to_end(s);
  s.kv().check_invariants();
  EXPECT_EQ(s.kv().pool().num_in_use(), 0);
  EXPECT_EQ(s.kv().num_free_blocks(), 24);
  int reasons[5] = {};
  for (auto& st : streams) {
    const auto res = test::collect(st);
    ASSERT_TRUE(st->drained());
    for (const auto& c : res.completions) ++reasons[int(c.reason)];
  }
  EXPECT_GT(s.stats().preemptions, 0);
  for (auto r : {FinishReason::Stop, FinishReason::Length, FinishReason::Deadline,
                 FinishReason::Cancelled, FinishReason::Error})
    EXPECT_GT(reasons[int(r)], 0) << "no request ended with " << finish_reason_name(r);
}

}  // namespace
}  // namespace ember
