#pragma once
// The host half of the device-side logit edits (kernels/logit_edits.cu): a step's rows turned
// into one merged edit per id per row, in CSR form, from the rows' parameters and their sampler
// slots. Plain C++, so it is tested on any machine (tests/kernels/test_logit_edit_plan.cc).
#include <cstdint>
#include <span>
#include <vector>

#include "engine/sample/row_sampling.h"
#include "engine/sample/sampler_slots.h"
#include "kernels/ops.h"

namespace ember::cuda {

struct LogitEditPlan {
  std::vector<LogitEdit> edits;       // row r's are [offsets[r], offsets[r + 1]), ids ascending
  std::vector<int32_t> offsets;       // rows + 1
  std::vector<RowPenalties> penalties;  // per row
  bool empty() const { return edits.empty(); }
};

// Row i: the min_tokens mask while its slot has drawn fewer than min_tokens, the logit bias, the
// repetition penalty over the slot's seen ids, presence/frequency over its output counts.
// Reuses `plan`'s storage.
void plan_logit_edits(std::span<const RowSampling> rows, const SamplerSlots& slots,
                      LogitEditPlan& plan);

// What the kernel does to one row, on the host (the tests' reference for the plan).
void apply_logit_edits_host(std::span<float> row, std::span<const LogitEdit> edits,
                            const RowPenalties& p);

}  // namespace ember::cuda
