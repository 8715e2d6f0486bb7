#include "engine/serve/kv_block_manager.h"

#include <numeric>
#include <random>

#include <gtest/gtest.h>

#include "engine/core/error.h"

namespace ember {
namespace {

std::vector<int32_t> seq_tokens(int n, int32_t start = 0) {
  std::vector<int32_t> t(n);
  std::iota(t.begin(), t.end(), start);
  return t;
}

// Admits, reserves and computes a whole prompt the way the scheduler does.
void run_prompt(KvBlockManager& m, SeqId id, const std::vector<int32_t>& t) {
  std::vector<BlockCopy> copies;
  const int cached = m.admit(id, t);
  ASSERT_TRUE(m.reserve(id, cached, int(t.size()), copies));
  m.mark_computed(id, t, int(t.size()));
}

TEST(BlockPool, AllocateReleaseAndExhaustion) {
  BlockPool p(3);
  auto a = p.allocate(), b = p.allocate(), c = p.allocate();
  ASSERT_TRUE(a && b && c);
  EXPECT_FALSE(p.allocate());
  EXPECT_EQ(p.num_free(), 0);
  p.retain(*a);
  p.release(*a);
  EXPECT_EQ(p.num_free(), 0);
  p.release(*a);
  EXPECT_EQ(p.num_free(), 1);
  EXPECT_THROW(p.release(*a), Error);  // double free is caught, not silently corrupting
  p.check_invariants();
}

TEST(KvBlockManager, SamePrefixReusesFullBlocks) {
  KvBlockManager m(16, 16);
  const auto t = seq_tokens(40);
  run_prompt(m, 1, t);
  EXPECT_EQ(m.table(1).size(), 3u);
  EXPECT_EQ(m.admit(2, t), 32);  // two full blocks found; the partial third is recomputed
  EXPECT_EQ(m.table(2)[0], m.table(1)[0]);
  EXPECT_EQ(m.table(2)[1], m.table(1)[1]);
  EXPECT_EQ(m.pool().refcount(m.table(1)[0]), 2);
  // Exactly two blocks of prompt: only one is reused, so the last token is computed.
  EXPECT_EQ(m.admit(3, seq_tokens(32)), 16);
  // Same second block after a different first block: the chained hash does not match.
  auto other = seq_tokens(40);
  other[0] = 999;
  EXPECT_EQ(m.admit(4, other), 0);
  EXPECT_EQ(m.prefix_stats().hit_tokens, 48);
  m.check_invariants();
  for (SeqId id : {1, 2, 3, 4}) m.free(id);
  EXPECT_EQ(m.num_free_blocks(), 16);
  m.check_invariants();
}

TEST(KvBlockManager, FreedCachedBlocksStayFindableUntilEvictedOldestFirst) {
  KvBlockManager m(4, 4);
  run_prompt(m, 1, seq_tokens(9, 0));    // 2 full blocks + 1 partial
  m.free(1);
  EXPECT_EQ(m.num_free_blocks(), 4);
  EXPECT_EQ(m.pool().num_cached(), 2);
  EXPECT_EQ(m.admit(2, seq_tokens(9, 0)), 8);  // found after the free
  m.free(2);
  // Fill the pool with another sequence: the cached blocks are evicted to make room.
  run_prompt(m, 3, seq_tokens(16, 100));
  EXPECT_EQ(m.num_free_blocks(), 0);
  m.free(3);
  EXPECT_EQ(m.admit(4, seq_tokens(9, 0)), 0);
  m.free(4);
  m.check_invariants();
}

TEST(KvBlockManager, ForkSharesAndCopiesOnWrite) {
  KvBlockManager m(8, 16);
  const auto t = seq_tokens(20);
  run_prompt(m, 1, t);
  m.fork(1, 2);
  EXPECT_EQ(m.table(2), m.table(1));
  EXPECT_EQ(m.pool().refcount(m.table(1)[1]), 2);
  std::vector<BlockCopy> copies;
  EXPECT_EQ(m.blocks_needed(2, 20, 21), 1);
  ASSERT_TRUE(m.reserve(2, 20, 21, copies));
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0].src, m.table(1)[1]);
  EXPECT_EQ(copies[0].dst, m.table(2)[1]);
  EXPECT_NE(m.table(2)[1], m.table(1)[1]);
  EXPECT_EQ(m.table(2)[0], m.table(1)[0]);  // the full first block stays shared
  copies.clear();
  ASSERT_TRUE(m.reserve(1, 20, 21, copies));  // parent is sole owner now: no copy
  EXPECT_TRUE(copies.empty());
  m.check_invariants();
  m.free(1);
  m.free(2);
  EXPECT_EQ(m.num_free_blocks(), 8);
}

TEST(KvBlockManager, ReserveFailsWithoutSideEffects) {
  KvBlockManager m(2, 4);
  std::vector<BlockCopy> copies;
  m.admit(1, seq_tokens(12));
  EXPECT_FALSE(m.reserve(1, 0, 12, copies));  // needs 3 blocks
  EXPECT_TRUE(m.table(1).empty());
  EXPECT_EQ(m.num_free_blocks(), 2);
  m.free(1);
  m.check_invariants();
}

// A randomized workload of admissions, chunked growth, forks, partial frees and preemption-like
// frees on a small pool: the invariants hold after every operation, and at the end every block
// is back in the pool.
TEST(KvBlockManager, RandomizedWorkloadReturnsEveryBlock) {
  std::mt19937 rng(2024);
  const int kBlocks = 40, kBs = 4;
  KvBlockManager m(kBlocks, kBs);
  struct Live {
    std::vector<int32_t> tokens;
    int computed = 0;
  };
  std::unordered_map<SeqId, Live> live;
  SeqId next_id = 1;
  std::vector<std::vector<int32_t>> prompts;  // a few shared prefixes
  for (int i = 0; i < 4; ++i) prompts.push_back(seq_tokens(6 + 5 * i, 1000 * i));
  int forks = 0, reuses = 0, copies_seen = 0;
  for (int op = 0; op < 5000; ++op) {
    const int what = std::uniform_int_distribution<int>(0, 9)(rng);
    if (what <= 1 || live.empty()) {  // admit
      Live l;
      l.tokens = prompts[rng() % prompts.size()];
      const int extra = int(rng() % 6);
      for (int i = 0; i < extra; ++i) l.tokens.push_back(int32_t(rng() % 50));
      const SeqId id = next_id++;
      l.computed = m.admit(id, l.tokens);
      reuses += l.computed > 0;
      live[id] = std::move(l);
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      const SeqId id = it->first;
      Live& l = it->second;
      if (what <= 6) {  // grow: compute a chunk of pending tokens, or decode one more
        if (l.computed == int(l.tokens.size())) l.tokens.push_back(int32_t(rng() % 50));
        const int chunk = 1 + int(rng() % (l.tokens.size() - l.computed));
        std::vector<BlockCopy> copies;
        if (m.reserve(id, l.computed, l.computed + chunk, copies)) {
          copies_seen += int(copies.size());
          l.computed += chunk;
          m.mark_computed(id, l.tokens, l.computed);
        } else {  // preempt: free and forget
          m.free(id);
          live.erase(it);
        }
      } else if (what == 7 && l.computed == int(l.tokens.size())) {  // fork (n > 1)
        const SeqId child = next_id++;
        m.fork(id, child);
        live[child] = live[id];
        ++forks;
      } else {  // finish or cancel
        m.free(id);
        live.erase(it);
      }
    }
    m.check_invariants();
  }
  for (auto& [id, l] : live) m.free(id);
  m.check_invariants();
  EXPECT_EQ(m.num_free_blocks(), kBlocks);
  EXPECT_EQ(m.pool().num_in_use(), 0);
  // The workload exercised what it claims to.
  EXPECT_GT(forks, 10);
  EXPECT_GT(reuses, 10);
  EXPECT_GT(copies_seen, 10);
}

}  // namespace
}  // namespace ember
