#include "engine/serve/kv_budget.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace ember {
namespace {

ModelConfig cfg() {
  ModelConfig c;
  c.num_layers = 4;
  c.num_kv_heads = 2;
  c.head_dim = 8;  // 2 * 4 * 2 * 8 * 4 bytes = 512 bytes per token in F32
  return c;
}

TEST(KvBudget, BlocksFollowTheBudget) {
  EXPECT_EQ(kv_blocks_for_bytes(cfg(), DType::F32, 16, 512 * 16 * 10), 10);
  EXPECT_EQ(kv_blocks_for_bytes(cfg(), DType::F32, 16, 512 * 16 * 10 + 100), 10);
  KvBudget gib;
  gib.gib = 1.0 / 1024;  // 1 MiB = 128 blocks of 16 tokens
  EXPECT_EQ(kv_blocks_for_budget(cfg(), DType::F32, 16, gib, 0, 1 << 30), 128);
  KvBudget frac;
  frac.fraction = 0.25;
  EXPECT_EQ(kv_blocks_for_budget(cfg(), DType::F32, 16, frac, 512 * 16 * 40, 1 << 30), 10);
  // Capped by what the sequences can use.
  EXPECT_EQ(kv_blocks_for_budget(cfg(), DType::F32, 16, gib, 0, 100), 7);
}

TEST(KvBudget, TooSmallOrInvalidBudgetsAreClearErrors) {
  EXPECT_THROW(kv_blocks_for_bytes(cfg(), DType::F32, 16, 100), Error);
  KvBudget bad;
  bad.gib = -1;
  try {
    kv_blocks_for_budget(cfg(), DType::F32, 16, bad, 0, 100);
    FAIL();
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), ::testing::HasSubstr("--kv-cache-gb"));
  }
  EXPECT_GT(host_memory_available(), 0u);
}

}  // namespace
}  // namespace ember
