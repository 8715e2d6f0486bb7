// The host half of the GPU's logit edits (kernels/logit_edit_plan.h), on the CPU: a step's
// rows planned into merged per-id edits and applied as the kernel applies them give, bit for
// bit, the logits the host sampler draws from (the min_tokens mask, apply_logit_bias,
// apply_penalties over the slot's history). Runs without a GPU.
#include "kernels/logit_edit_plan.h"

#include <bit>
#include <cmath>
#include <random>

#include <gtest/gtest.h>

#include "engine/sample/sampler.h"

namespace ember {
namespace {

TEST(LogitEditPlan, PlannedEditsGiveTheHostSamplersLogitsBitForBit) {
  std::mt19937 g(42);
  const int vocab = 300, rows = 40;
  std::normal_distribution<float> nd(0.f, 3.f);
  std::vector<SamplingParams> params(static_cast<size_t>(rows));
  std::vector<RowSampling> plan_rows;
  SamplerSlots slots;
  std::vector<std::vector<int32_t>> prompts, outputs;
  const std::vector<int32_t> mask = {0, 17, 17, 299};  // a repeated id, as EOS may be
  for (int r = 0; r < rows; ++r) {
    SamplingParams& p = params[size_t(r)];
    if (g() % 2) p.repetition_penalty = std::array<float, 2>{1.3f, 0.8f}[g() % 2];
    if (g() % 2) p.presence_penalty = 0.4f;
    if (g() % 2) p.frequency_penalty = 0.25f;
    if (g() % 3 == 0) p.logit_bias = {{17, 3.f}, {int32_t(g() % vocab), -1.5f}, {5000, 1.f}};
    if (g() % 3 == 0) p.min_tokens = 6;
    std::vector<int32_t> prompt, output;
    for (int t = 0; t < 1 + int(g() % 20); ++t) prompt.push_back(int32_t(g() % 40));
    for (int t = 0; t < int(g() % 12); ++t) output.push_back(int32_t(g() % 40));
    SlotInit init{r, prompt, int32_t(prompt.size())};
    init.tokens.insert(init.tokens.end(), output.begin(), output.end());
    slots.init(init);
    prompts.push_back(prompt);
    outputs.push_back(output);
    plan_rows.push_back(RowSampling{r, r, &p, 0, 0, mask});
  }
  cuda::LogitEditPlan plan;
  cuda::plan_logit_edits(plan_rows, slots, plan);
  ASSERT_EQ(plan.offsets.size(), size_t(rows) + 1);
  int edited_rows = 0;
  for (int r = 0; r < rows; ++r) {
    std::vector<float> logits(static_cast<size_t>(vocab));
    for (auto& x : logits) x = nd(g);
    std::vector<float> want = logits;
    const SamplingParams& p = params[size_t(r)];
    if (outputs[size_t(r)].size() < size_t(p.min_tokens))
      for (int32_t id : mask) want[size_t(id)] = -INFINITY;
    apply_logit_bias(want, p.logit_bias);
    apply_penalties(want, p, prompts[size_t(r)], outputs[size_t(r)]);
    const auto edits = std::span<const cuda::LogitEdit>(plan.edits)
                           .subspan(size_t(plan.offsets[size_t(r)]),
                                    size_t(plan.offsets[size_t(r) + 1] - plan.offsets[size_t(r)]));
    for (size_t j = 1; j < edits.size(); ++j)
      ASSERT_LT(edits[j - 1].id, edits[j].id) << "row " << r << ": one edit per id, ascending";
    edited_rows += !edits.empty();
    cuda::apply_logit_edits_host(logits, edits, plan.penalties[size_t(r)]);
    for (int i = 0; i < vocab; ++i)
      ASSERT_EQ(std::bit_cast<uint32_t>(logits[size_t(i)]), std::bit_cast<uint32_t>(want[size_t(i)]))
          << "row " << r << ", id " << i;
  }
  EXPECT_GT(edited_rows, rows / 2);
}

TEST(LogitEditPlan, RowsWithoutPenaltiesBiasOrMaskPlanNothing) {
  SamplingParams plain;
  plain.min_tokens = 2;
  SamplerSlots slots;
  slots.init(SlotInit{0, {1, 2, 3, 4}, 2});  // two drawn: min_tokens is met
  const std::vector<int32_t> mask = {3};
  const std::vector<RowSampling> rows = {RowSampling{0, 0, &plain, 0, 0, mask}};
  cuda::LogitEditPlan plan;
  cuda::plan_logit_edits(rows, slots, plan);
  EXPECT_TRUE(plan.empty());
  EXPECT_EQ(plan.offsets, (std::vector<int32_t>{0, 0}));
}

}  // namespace
}  // namespace ember
