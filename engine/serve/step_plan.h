#pragma once
// One step as the scheduler hands it to the runner: the batch, the KV copies, the sampler
// slot operations and, per logit row, how to draw (engine/sample/row_sampling.h). A decode
// whose previous token is still being drawn (the step before, in flight) carries a pending
// input token: the runner reads it from the slot's last draw when the step starts, so the host
// never waits for ids before it builds the next step.
#include <cstdint>
#include <string>
#include <vector>

#include "engine/model/step.h"
#include "engine/sample/row_sampling.h"
#include "engine/serve/kv_block_manager.h"

namespace ember {

struct PendingToken {
  int32_t token_index = 0;  // in input.tokens
  int32_t slot = 0;         // whose last draw it is
};

struct StepPlan {
  StepInput input;
  std::vector<BlockCopy> copies;
  std::vector<SlotInit> inits;    // applied first
  std::vector<SlotFork> forks;    // then these
  std::vector<PendingToken> pending;
  std::vector<RowSampling> rows;  // the draws, after the forward pass

  // Empties every list and keeps its capacity (a plan is reused step after step), the block
  // tables' included: they wait in spare_tables for the next step's sequences.
  void clear() {
    for (auto& s : input.seqs) spare_tables.push_back(std::move(s.block_table));
    input.tokens.clear();
    input.positions.clear();
    input.slot_mapping.clear();
    input.seqs.clear();
    input.logit_rows.clear();
    copies.clear();
    inits.clear();
    forks.clear();
    pending.clear();
    rows.clear();
  }
  // A block table's storage from an earlier step (empty when there is none).
  std::vector<int32_t> spare_table() {
    if (spare_tables.empty()) return {};
    std::vector<int32_t> t = std::move(spare_tables.back());
    spare_tables.pop_back();
    return t;
  }
  std::vector<std::vector<int32_t>> spare_tables;
};

struct StepOutcome {
  std::vector<SampledRow> rows;  // one per plan.rows
  std::string error;             // set: the step failed as a whole and `rows` is empty
  double seconds = 0;            // the runner's time for it
};

}  // namespace ember
