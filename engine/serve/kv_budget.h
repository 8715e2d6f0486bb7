#pragma once
// How many KV blocks a memory budget buys: --kv-cache-gb when given, else a fraction of the
// memory that is free now (host memory for the CPU backend).
#include <cstddef>
#include <cstdint>
#include <optional>

#include "engine/core/host_memory.h"
#include "engine/model/config.h"

namespace ember {

struct KvBudget {
  std::optional<double> gib;  // exact budget in GiB
  double fraction = 0.5;      // of the free memory, when gib is not set
};

// Blocks of `block_size` tokens (all layers' K and V) that fit in `budget_bytes`. Throws when
// not even one block fits.
int kv_blocks_for_bytes(const ModelConfig& cfg, DType kv_dtype, int block_size,
                        size_t budget_bytes);
// Resolves the budget against `free_bytes` and returns the block count, capped at what
// `max_useful_tokens` needs (no point holding more than the sequences can use).
int kv_blocks_for_budget(const ModelConfig& cfg, DType kv_dtype, int block_size,
                         const KvBudget& budget, size_t free_bytes, int64_t max_useful_tokens);

}  // namespace ember
