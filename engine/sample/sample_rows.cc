#include "engine/sample/sample_rows.h"

#include <algorithm>
#include <cmath>
#include <thread>
#include <vector>

#include "engine/core/error.h"
#include "engine/sample/sampler.h"

namespace ember {

namespace {

void default_loop(int64_t n, const std::function<void(int64_t)>& fn) {
  const int64_t hw = std::max(1u, std::thread::hardware_concurrency());
  const int64_t workers = std::min(hw, n / 4);
  if (workers <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  std::vector<std::thread> ts;
  for (int64_t w = 1; w < workers; ++w)
    ts.emplace_back([&, w] {
      for (int64_t i = w; i < n; i += workers) fn(i);
    });
  for (int64_t i = 0; i < n; i += workers) fn(i);
  for (auto& t : ts) t.join();
}

}  // namespace

SampledRow sample_row(std::span<const float> logits, const RowSampling& r,
                      const SamplerSlots& slots) {
  SampledRow out;
  try {
    if (!r.params) fail("sampler: row {} has no sampling parameters", r.logit_row);
    const SamplingParams& sp = *r.params;
    const auto output = slots.output(r.slot);
    // The transforms work in place: a per-thread copy, reused across steps.
    thread_local std::vector<float> scratch;
    scratch.assign(logits.begin(), logits.end());
    if (output.size() < size_t(std::max(sp.min_tokens, 0)))
      for (int32_t id : r.min_tokens_mask)
        if (id >= 0 && size_t(id) < scratch.size()) scratch[size_t(id)] = -INFINITY;
    const bool processed =
        sp.logprobs >= 0 && sp.logprobs_mode == SamplingParams::LogprobsMode::Processed;
    std::optional<RowLogprobs> dist;
    // sample_next's order, with the penalties from the slot's running counts.
    apply_logit_bias(scratch, sp.logit_bias);
    apply_penalties(scratch, sp, slots.seen(r.slot), slots.output_counts(r.slot));
    out.id = sample_processed(sp, r.seed, r.index, output.size(), scratch,
                              processed ? &dist : nullptr);
    if (sp.logprobs >= 0) {
      if (!processed) dist.emplace(logits);
      out.logprobs = dist->entry(out.id, sp.logprobs);
    }
  } catch (const std::exception& e) {
    out.id = -1;
    out.error = e.what();
  }
  return out;
}

void sample_rows(const float* logits, int64_t logit_rows, int vocab, std::span<const RowSampling> rows,
                 SamplerSlots& slots, std::span<SampledRow> out, const RowLoop& loop) {
  if (out.size() != rows.size())
    fail("sampler: {} results for {} rows", out.size(), rows.size());
  for (const auto& r : rows)
    if (r.logit_row < 0 || r.logit_row >= logit_rows)
      fail("sampler: logit row {} of a step with {}", r.logit_row, logit_rows);
  const auto draw = [&](int64_t i) {
    const RowSampling& r = rows[size_t(i)];
    out[size_t(i)] =
        sample_row(std::span<const float>(logits + size_t(r.logit_row) * size_t(vocab), size_t(vocab)),
                   r, slots);
  };
  if (loop)
    loop(int64_t(rows.size()), draw);
  else
    default_loop(int64_t(rows.size()), draw);
  for (size_t i = 0; i < rows.size(); ++i)
    if (out[i].id >= 0) slots.append(rows[i].slot, out[i].id);
}

}  // namespace ember
