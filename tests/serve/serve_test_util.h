#pragma once
// Helpers for the scheduler/engine tests: the expected output of a request computed directly
// from the fake model, without any batching, paging or caching.
#include <algorithm>

#include <gtest/gtest.h>

#include "engine/sample/sampler.h"
#include "engine/serve/scheduler.h"
#include "tests/serve/fake_model.h"

namespace ember::test {

inline std::vector<int32_t> reference_tokens(const FakeModel& m, const std::vector<int32_t>& prompt,
                                             const SamplingParams& p, uint64_t seed,
                                             int index = 0) {
  std::vector<int32_t> ctx = prompt, out;
  for (int i = 0; i < p.max_tokens; ++i) {
    auto l = m.logits_for(ctx);
    const int32_t id = sample_next(p, seed, uint32_t(index), l, prompt, out);
    if (std::count(p.stop_token_ids.begin(), p.stop_token_ids.end(), id)) break;
    out.push_back(id);
    ctx.push_back(id);
  }
  return out;
}

inline std::vector<int32_t> make_prompt(int len, uint32_t salt, int vocab) {
  std::vector<int32_t> p;
  for (int i = 0; i < len; ++i) p.push_back(int32_t(fake_mix(salt * 1000003ull + i) % vocab));
  return p;
}

// n seeded chat requests of different prompt lengths and max_tokens (temperature 1, top_k 40,
// EOS ignored), request i seeded seed_base + i: a batch whose tokens may not depend on it.
inline std::vector<ChatRequest> seeded_requests(int n, int vocab, uint64_t seed_base) {
  std::vector<ChatRequest> reqs;
  for (int i = 0; i < n; ++i) {
    ChatRequest q;
    q.prompt_ids = make_prompt(3 + (i * 5) % 17, 60 + uint32_t(i), vocab);
    q.sampling.temperature = 1.0f;
    q.sampling.top_k = 40;
    q.sampling.max_tokens = 5 + i % 6;
    q.sampling.ignore_eos = true;
    q.sampling.seed = seed_base + uint64_t(i);
    reqs.push_back(q);
  }
  return reqs;
}

inline PreparedRequest prepared(uint64_t id, std::vector<int32_t> prompt, SamplingParams sp,
                                uint64_t seed, int n = 1) {
  PreparedRequest r;
  sp.n = n;
  r.stream = std::make_shared<RequestStream>(id, n, nullptr);
  r.prompt = std::move(prompt);
  r.sampling = std::move(sp);
  r.seed = seed;
  return r;
}

// Steps until the scheduler has nothing left (a failure if it never gets there).
inline void run_to_end(Scheduler& s, int max_steps = 100000) {
  for (int i = 0; i < max_steps && s.has_work(); ++i) s.step();
  ASSERT_FALSE(s.has_work()) << "scheduler did not finish";
}

// Reads every event already in the stream into completions (the scheduler pushes
// synchronously, so after the run they are all there).
inline RequestResult collect(const std::shared_ptr<RequestStream>& s) {
  RequestHandle h(s);
  return h.wait();
}

}  // namespace ember::test
