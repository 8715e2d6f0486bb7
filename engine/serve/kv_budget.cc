#include "engine/serve/kv_budget.h"

#include <algorithm>
#include <cmath>

#include "engine/core/error.h"

namespace ember {

int kv_blocks_for_bytes(const ModelConfig& cfg, DType kv_dtype, int block_size,
                        size_t budget_bytes) {
  const int64_t per_block = cfg.kv_bytes_per_token(kv_dtype) * block_size;
  if (per_block <= 0) fail("kv cache: the model has no KV bytes per token");
  const int64_t blocks = int64_t(budget_bytes) / per_block;
  if (blocks < 1)
    fail("kv cache: a budget of {:.3f} GiB holds no block of {} tokens ({} bytes)",
         double(budget_bytes) / (1 << 30), block_size, per_block);
  return int(std::min<int64_t>(blocks, 1 << 30));
}

int kv_blocks_for_budget(const ModelConfig& cfg, DType kv_dtype, int block_size,
                         const KvBudget& budget, size_t free_bytes, int64_t max_useful_tokens) {
  size_t bytes;
  if (budget.gib) {
    if (!(*budget.gib > 0) || !std::isfinite(*budget.gib))
      fail("--kv-cache-gb={} must be a positive number", *budget.gib);
    bytes = size_t(*budget.gib * double(1ull << 30));
  } else {
    if (!(budget.fraction > 0 && budget.fraction <= 1))
      fail("kv cache fraction {} is out of range (0, 1]", budget.fraction);
    if (free_bytes == 0) fail("kv cache: cannot tell how much memory is free; pass --kv-cache-gb");
    bytes = size_t(double(free_bytes) * budget.fraction);
  }
  const int blocks = kv_blocks_for_bytes(cfg, kv_dtype, block_size, bytes);
  const int64_t useful = (max_useful_tokens + block_size - 1) / block_size;
  return int(std::max<int64_t>(1, std::min<int64_t>(blocks, useful)));
}

}  // namespace ember
