#pragma once
// Per-sequence block tables over the BlockPool: which blocks hold a sequence's KV, prefix reuse
// on admission, copy-on-write when forked sequences (n > 1) write into a shared block, and
// publishing full blocks to the prefix cache once their KV is computed.
//
// Only the scheduler thread calls it. A sequence's tokens are owned by the caller and passed in;
// this class stores only block ids and the hash chain.
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "engine/serve/block_pool.h"

namespace ember {

using SeqId = uint64_t;

struct BlockCopy {
  int32_t src, dst;  // copy the KV of block src (all layers) into block dst
};

struct PrefixCacheStats {
  int64_t queried_tokens = 0;  // prompt tokens looked up on admission
  int64_t hit_tokens = 0;      // of which found cached
};

class KvBlockManager {
 public:
  KvBlockManager(int num_blocks, int block_size, bool prefix_caching = true);

  int block_size() const { return block_size_; }
  const BlockPool& pool() const { return pool_; }
  int num_free_blocks() const { return pool_.num_free(); }
  bool has(SeqId id) const { return seqs_.count(id) != 0; }
  const std::vector<int32_t>& table(SeqId id) const;

  // Starts a sequence. Reuses cached full blocks of `tokens` from the front; at least the last
  // token is left to compute (its logits are needed). Returns the number of cached tokens.
  int admit(SeqId id, std::span<const int32_t> tokens);
  // Blocks reserve() would take from the pool.
  int blocks_needed(SeqId id, int from, int new_len) const;
  // Makes the table cover positions [0, new_len) and gives the sequence sole ownership of the
  // blocks it will write, [from, new_len) (copy-on-write: a shared block is replaced by a fresh
  // one and a copy is queued). Returns false, changing nothing, when the pool is short.
  bool reserve(SeqId id, int from, int new_len, std::vector<BlockCopy>& copies);
  // The KV of tokens[0, computed) is now in the cache: publish the blocks that became full.
  void mark_computed(SeqId id, std::span<const int32_t> tokens, int computed);
  // The child shares every block of the parent (reference counts go up).
  void fork(SeqId parent, SeqId child);
  // Releases every block of the sequence (cached ones stay findable until evicted).
  void free(SeqId id);

  const PrefixCacheStats& prefix_stats() const { return stats_; }
  // Pool invariants plus: every block's refcount equals the number of tables holding it.
  void check_invariants() const;

 private:
  struct Seq {
    std::vector<int32_t> table;
    std::vector<uint64_t> hashes;  // hash chain of the leading full, computed blocks
  };
  BlockPool pool_;
  int block_size_;
  bool prefix_caching_;
  std::unordered_map<SeqId, Seq> seqs_;
  PrefixCacheStats stats_;
};

}  // namespace ember
