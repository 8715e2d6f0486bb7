#include "kernels/logit_edit_plan.h"

#include <algorithm>
#include <cmath>

namespace ember::cuda {

void plan_logit_edits(std::span<const RowSampling> rows, const SamplerSlots& slots,
                      LogitEditPlan& plan) {
  plan.edits.clear();
  plan.offsets.assign(rows.size() + 1, 0);
  plan.penalties.resize(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const SamplingParams& p = *rows[i].params;
    plan.penalties[i] = RowPenalties{p.repetition_penalty, p.presence_penalty, p.frequency_penalty};
    auto& e = plan.edits;
    const size_t start = e.size();
    if (slots.output(rows[i].slot).size() < size_t(std::max(p.min_tokens, 0)))
      for (int32_t id : rows[i].min_tokens_mask) e.push_back({id, kEditMask, 0.f, 0});
    for (const auto& [id, b] : p.logit_bias) e.push_back({id, kEditBias, b, 0});
    if (p.repetition_penalty != 1.f)
      for (int32_t id : slots.seen(rows[i].slot)) e.push_back({id, kEditSeen, 0.f, 0});
    if (p.presence_penalty != 0.f || p.frequency_penalty != 0.f)
      for (const auto& [id, n] : slots.output_counts(rows[i].slot)) e.push_back({id, 0, 0.f, n});
    // One edit per id (a thread each on the device): merge what the lists said about it.
    std::stable_sort(e.begin() + ptrdiff_t(start), e.end(),
                     [](const LogitEdit& a, const LogitEdit& b) { return a.id < b.id; });
    size_t w = start;
    for (size_t j = start; j < e.size(); ++j) {
      if (w > start && e[w - 1].id == e[j].id) {
        e[w - 1].flags |= e[j].flags;
        if (e[j].flags & kEditBias) e[w - 1].bias = e[j].bias;
        if (e[j].count) e[w - 1].count = e[j].count;
      } else {
        e[w++] = e[j];
      }
    }
    e.resize(w);
    plan.offsets[i + 1] = int32_t(e.size());
  }
}

void apply_logit_edits_host(std::span<float> row, std::span<const LogitEdit> edits,
                            const RowPenalties& p) {
  for (const LogitEdit& ed : edits) {
    if (ed.id < 0 || size_t(ed.id) >= row.size()) continue;
    float l = row[size_t(ed.id)];
    if (ed.flags & kEditMask) l = -INFINITY;
    if (ed.flags & kEditBias) l = l + ed.bias;
    if ((ed.flags & kEditSeen) && p.repetition != 1.f)
      l = l > 0 ? l / p.repetition : l * p.repetition;
    if (ed.count > 0 && (p.presence != 0.f || p.frequency != 0.f))
      l = l - (p.presence + p.frequency * float(ed.count));
    row[size_t(ed.id)] = l;
  }
}

}  // namespace ember::cuda
