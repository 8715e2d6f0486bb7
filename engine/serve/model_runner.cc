#include "engine/serve/model_runner.h"

#include "engine/core/error.h"
#include "engine/sample/sample_rows.h"

namespace ember {

void ModelRunner::begin_step(StepPlan& plan) {
  slots_.apply(plan.inits, plan.forks);
  for (const auto& p : plan.pending) {
    if (p.token_index < 0 || p.token_index >= plan.input.num_tokens())
      fail("model runner: pending token {} of a step with {}", p.token_index,
           plan.input.num_tokens());
    plan.input.tokens[size_t(p.token_index)] = slots_.last(p.slot);
  }
}

void ModelRunner::run(StepPlan& plan, std::vector<SampledRow>& out) {
  begin_step(plan);
  if (!plan.copies.empty()) copy_blocks(plan.copies);
  forward(plan.input, logits_);
  const size_t rows = plan.input.logit_rows.size();
  if (logits_.size() != rows * size_t(vocab_size()))
    fail("model step returned {} logits, expected {} rows of {}", logits_.size(), rows,
         vocab_size());
  out.resize(plan.rows.size());
  sample_rows(logits_.data(), int64_t(rows), vocab_size(), plan.rows, slots_, out);
}

}  // namespace ember
