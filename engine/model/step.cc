#include "engine/model/step.h"

#include "engine/core/error.h"

namespace ember {

void StepInput::add_sequence(const std::vector<int32_t>& ids, int start_pos,
                             const std::vector<int32_t>& block_table, int block_size,
                             bool want_logits) {
  add_sequence(std::span<const int32_t>(ids), start_pos, std::span<const int32_t>(block_table),
               block_size, want_logits);
}

void StepInput::add_sequence(std::span<const int32_t> ids, int start_pos,
                             std::span<const int32_t> block_table, int block_size,
                             bool want_logits, std::vector<int32_t> table_storage) {
  const int ctx = start_pos + int(ids.size());
  if (int64_t(block_table.size()) * block_size < ctx)
    fail("step: block table of {} blocks cannot hold {} tokens", block_table.size(), ctx);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int pos = start_pos + int(i);
    tokens.push_back(ids[i]);
    positions.push_back(pos);
    slot_mapping.push_back(block_table[pos / block_size] * block_size + pos % block_size);
  }
  if (want_logits && !ids.empty()) logit_rows.push_back(int32_t(tokens.size()) - 1);
  table_storage.assign(block_table.begin(), block_table.end());
  seqs.push_back(SeqStep{int(ids.size()), ctx, std::move(table_storage)});
}

}  // namespace ember
