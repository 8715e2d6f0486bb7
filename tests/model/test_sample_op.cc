// The backend's sample op (Backend::sample) on the CPU: each row's draw and logprobs equal the
// serve sampler's on that row with the history in its slot, whatever the batch and however the
// rows are spread over threads; draws go into the slots; a bad row fails alone. The default
// (download, then the host sampler) must give the same as the CPU backend's own.
#include <algorithm>
#include <array>
#include <cmath>
#include <random>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/sample/sample_rows.h"
#include "engine/sample/sampler.h"
#include "engine/sample/sampler_slots.h"

namespace ember {
namespace {

struct Case {
  std::vector<float> logits;  // [rows, vocab]
  std::vector<SamplingParams> params;
  std::vector<RowSampling> rows;
  SamplerSlots slots;
  std::vector<std::vector<int32_t>> prompt, output;  // per row, what its slot holds
};

const std::vector<int32_t> kMask = {3, 7};

// 40 rows over 30 logit rows (some logit rows drawn twice, as n > 1 completions do), with
// every transform, penalties over a history, min_tokens masks and both logprobs modes.
Case make_case(int vocab, uint32_t seed) {
  std::mt19937 g(seed);
  Case c;
  const int logit_rows = 30, rows = 40;
  std::normal_distribution<float> nd(0.f, 3.f);
  c.logits.resize(size_t(logit_rows) * vocab);
  for (auto& x : c.logits) x = nd(g);
  c.params.resize(size_t(rows));
  for (int i = 0; i < rows; ++i) {
    SamplingParams& p = c.params[size_t(i)];
    p.temperature = std::array<float, 4>{0.f, 0.6f, 1.f, 1.3f}[g() % 4];
    if (g() % 2) p.top_p = 0.9f;
    if (g() % 3 == 0) p.top_k = 20;
    if (g() % 4 == 0) p.min_p = 0.05f;
    if (g() % 5 == 0) p.repetition_penalty = 1.3f;
    if (g() % 5 == 1) p.presence_penalty = 0.7f, p.frequency_penalty = 0.4f;
    if (g() % 6 == 0) p.logit_bias = {{int32_t(g() % vocab), 5.f}};
    if (g() % 7 == 0) p.typical_p = 0.8f;
    if (g() % 7 == 1) p.xtc_probability = 0.7f, p.xtc_threshold = 0.1f;
    if (g() % 9 == 0) p.target_entropy = 2.f;
    if (g() % 4 == 0) p.min_tokens = 5;
    p.logprobs = int(g() % 3) - 1;  // none, 0 alternatives, 1
    if (g() % 2) p.logprobs = 20;
    if (g() % 2) p.logprobs_mode = SamplingParams::LogprobsMode::Processed;
  }
  c.prompt.resize(size_t(rows));
  c.output.resize(size_t(rows));
  for (int i = 0; i < rows; ++i) {
    for (int t = 0; t < 1 + int(g() % 12); ++t) c.prompt[size_t(i)].push_back(int32_t(g() % vocab));
    for (int t = 0; t < int(g() % 9); ++t) c.output[size_t(i)].push_back(int32_t(g() % vocab));
    SlotInit init;
    init.slot = 2 * i + 1;  // sparse slot ids
    init.tokens = c.prompt[size_t(i)];
    init.prompt_len = int32_t(init.tokens.size());
    c.slots.init(init);
    for (int32_t t : c.output[size_t(i)]) c.slots.append(init.slot, t);
    RowSampling r;
    r.logit_row = i < logit_rows ? i : int32_t(g() % logit_rows);
    r.slot = init.slot;
    r.params = &c.params[size_t(i)];
    r.seed = g();
    r.index = uint32_t(g() % 3);
    r.min_tokens_mask = kMask;
    c.rows.push_back(r);
  }
  return c;
}

SampledRow reference(const Case& c, size_t i, int vocab) {
  const RowSampling& r = c.rows[i];
  const SamplingParams& sp = *r.params;
  std::vector<float> row(c.logits.begin() + size_t(r.logit_row) * vocab,
                         c.logits.begin() + size_t(r.logit_row + 1) * vocab);
  const std::vector<float> raw = row;
  if (c.output[i].size() < size_t(sp.min_tokens))
    for (int32_t id : kMask) row[size_t(id)] = -INFINITY;
  std::optional<RowLogprobs> processed;
  const bool want_processed =
      sp.logprobs >= 0 && sp.logprobs_mode == SamplingParams::LogprobsMode::Processed;
  SampledRow out;
  out.id = sample_next(sp, r.seed, r.index, row, c.prompt[i], c.output[i],
                       want_processed ? &processed : nullptr);
  if (sp.logprobs >= 0) {
    if (want_processed)
      out.logprobs = processed->entry(out.id, sp.logprobs);
    else
      out.logprobs = RowLogprobs(raw).entry(out.id, sp.logprobs);
  }
  return out;
}

void expect_same(const SampledRow& got, const SampledRow& want, size_t i) {
  EXPECT_TRUE(got.error.empty()) << "row " << i << ": " << got.error;
  EXPECT_EQ(got.id, want.id) << "row " << i;
  ASSERT_EQ(got.logprobs.has_value(), want.logprobs.has_value()) << "row " << i;
  if (!want.logprobs) return;
  EXPECT_EQ(got.logprobs->logprob, want.logprobs->logprob) << "row " << i;
  EXPECT_EQ(got.logprobs->top, want.logprobs->top) << "row " << i;
}

TEST(SampleOp, CpuDrawsAndLogprobsEqualTheSerialSamplerRowByRow) {
  for (int vocab : {64, 32000}) {
    for (int threads : {1, 3}) {
      Case c = make_case(vocab, 1234 + uint32_t(vocab) + uint32_t(threads));
      auto be = make_cpu_backend(threads);
      Tensor logits = be->upload(c.logits.data(), DType::F32,
                                 {int64_t(c.logits.size()) / vocab, vocab}, false);
      std::vector<SampledRow> out(c.rows.size());
      be->sample(logits, c.rows, c.slots, out);
      int greedy = 0, with_logprobs = 0;
      for (size_t i = 0; i < c.rows.size(); ++i) {
        SCOPED_TRACE("vocab " + std::to_string(vocab) + ", threads " + std::to_string(threads));
        expect_same(out[i], reference(c, i, vocab), i);
        // The draw went into the slot: the next step's history and Philox step.
        ASSERT_EQ(c.slots.output(c.rows[i].slot).size(), c.output[i].size() + 1);
        EXPECT_EQ(c.slots.last(c.rows[i].slot), out[i].id);
        greedy += c.params[i].temperature == 0.f;
        with_logprobs += out[i].logprobs.has_value();
      }
      EXPECT_GT(greedy, 0);
      EXPECT_GT(with_logprobs, 0);
    }
  }
}

TEST(SampleOp, MinTokensMaskHoldsUntilTheSlotHasDrawnEnough) {
  // A row where only the masked ids have any mass left after the mask would be empty; here the
  // masked ids are far ahead, so without the mask they are always drawn.
  const int vocab = 16;
  std::vector<float> logits(vocab, 0.f);
  for (int32_t id : kMask) logits[size_t(id)] = 30.f;
  auto be = make_cpu_backend(1);
  Tensor t = be->upload(logits.data(), DType::F32, {1, vocab}, false);
  SamplingParams p;
  p.min_tokens = 2;
  SamplerSlots slots;
  slots.init(SlotInit{0, {1, 2}, 2});
  RowSampling r;
  r.slot = 0;
  r.params = &p;
  r.seed = 5;
  r.min_tokens_mask = kMask;
  for (int step = 0; step < 4; ++step) {
    std::vector<SampledRow> out(1);
    be->sample(t, std::span<const RowSampling>(&r, 1), slots, out);
    const bool masked = std::count(kMask.begin(), kMask.end(), out[0].id) == 0;
    EXPECT_EQ(masked, step < 2) << "step " << step << " drew " << out[0].id;
  }
}

TEST(SampleOp, TheDefaultDownloadPathMatchesTheCpuBackend) {
  const int vocab = 4096;
  Case a = make_case(vocab, 99), b = make_case(vocab, 99);
  auto be = make_cpu_backend(2);
  Tensor logits =
      be->upload(a.logits.data(), DType::F32, {int64_t(a.logits.size()) / vocab, vocab}, false);
  std::vector<SampledRow> own(a.rows.size()), fallback(b.rows.size());
  be->sample(logits, a.rows, a.slots, own);
  be->Backend::sample(logits, b.rows, b.slots, fallback);
  for (size_t i = 0; i < own.size(); ++i) expect_same(fallback[i], own[i], i);
}

TEST(SampleOp, ABadRowFailsAloneAndBadShapesFailTheStep) {
  const int vocab = 32;
  std::vector<float> logits(2 * vocab, 0.f);
  auto be = make_cpu_backend(1);
  Tensor t = be->upload(logits.data(), DType::F32, {2, vocab}, false);
  SamplingParams p;
  SamplerSlots slots;
  slots.init(SlotInit{0, {1}, 1});
  std::vector<RowSampling> rows(2);
  rows[0].slot = 0;
  rows[0].params = &p;
  rows[1].slot = 9;  // never initialised
  rows[1].params = &p;
  rows[1].logit_row = 1;
  std::vector<SampledRow> out(2);
  be->sample(t, rows, slots, out);
  EXPECT_GE(out[0].id, 0);
  EXPECT_TRUE(out[0].error.empty());
  EXPECT_EQ(out[1].id, -1);
  EXPECT_NE(out[1].error.find("slot 9"), std::string::npos) << out[1].error;
  EXPECT_EQ(slots.output(0).size(), 1u);

  rows[1].slot = 0;
  rows[1].logit_row = 2;  // the step has two logit rows
  EXPECT_THROW(be->sample(t, rows, slots, out), Error);
  std::vector<SampledRow> short_out(1);
  rows[1].logit_row = 1;
  EXPECT_THROW(be->sample(t, rows, slots, short_out), Error);
}

TEST(SamplerSlots, InitForkAppendAndErrorsNameTheSlot) {
  SamplerSlots s;
  s.init(SlotInit{2, {5, 6, 7}, 2});
  EXPECT_EQ(std::vector<int32_t>(s.prompt(2).begin(), s.prompt(2).end()),
            (std::vector<int32_t>{5, 6}));
  EXPECT_EQ(s.output(2).size(), 1u);
  EXPECT_EQ(s.last(2), 7);
  s.fork(SlotFork{2, 5});
  s.append(5, 9);
  EXPECT_EQ(s.output(5).size(), 2u);
  EXPECT_EQ(s.output(2).size(), 1u);  // the fork is a copy
  EXPECT_EQ(s.last(5), 9);
  // The penalties' counts follow: distinct ids of prompt + output, and output counts.
  s.append(5, 7);
  s.append(5, 9);
  EXPECT_EQ(std::vector<int32_t>(s.seen(5).begin(), s.seen(5).end()),
            (std::vector<int32_t>{5, 6, 7, 9}));
  using Counts = std::vector<std::pair<int32_t, int32_t>>;
  EXPECT_EQ(Counts(s.output_counts(5).begin(), s.output_counts(5).end()),
            (Counts{{7, 2}, {9, 2}}));
  EXPECT_EQ(Counts(s.output_counts(2).begin(), s.output_counts(2).end()), (Counts{{7, 1}}));
  // Re-initialising a slot replaces its history (a reused slot).
  s.init(SlotInit{5, {1}, 1});
  EXPECT_EQ(s.output(5).size(), 0u);
  EXPECT_EQ(s.last(5), 1);
  EXPECT_TRUE(s.output_counts(5).empty());
  EXPECT_EQ(s.seen(5).size(), 1u);
  EXPECT_THROW(s.last(3), Error);
  EXPECT_THROW(s.append(40, 1), Error);
  EXPECT_THROW(s.init(SlotInit{1, {1}, 2}), Error);
  EXPECT_THROW(s.fork(SlotFork{4, 1}), Error);
}

}  // namespace
}  // namespace ember
