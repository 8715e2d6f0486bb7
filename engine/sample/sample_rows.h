#pragma once
// The host implementation of the sample op (Backend::sample): each row's draw as sample_next()
// makes it, from its slot's history and penalty counts, the logprobs it asked for, and the
// draw appended to the slot. Rows are independent, so `loop` may run them on any threads in
// any order; the appends happen after all draws, in row order.
#include <cstdint>
#include <functional>
#include <span>

#include "engine/sample/row_sampling.h"
#include "engine/sample/sampler_slots.h"

namespace ember {

// Runs fn(i) for every i in [0, n); the default spreads rows over a few threads when there are
// enough of them to pay for it.
using RowLoop = std::function<void(int64_t n, const std::function<void(int64_t)>& fn)>;

// One row: `logits` is that row's [vocab] fp32 values (read only).
SampledRow sample_row(std::span<const float> logits, const RowSampling& r,
                      const SamplerSlots& slots);

// logits: [logit_rows, vocab] fp32 on the host. out.size() == rows.size().
void sample_rows(const float* logits, int64_t logit_rows, int vocab, std::span<const RowSampling> rows,
                 SamplerSlots& slots, std::span<SampledRow> out, const RowLoop& loop = {});

}  // namespace ember
