#pragma once
// The KV block pool: reference counts for every block, and the prefix cache. A full block is
// known by the hash of its tokens chained with its predecessor's hash, so two requests with the
// same system prompt find the same blocks. When its last user lets go, a cached block is not
// wiped: it waits in an LRU list, still findable, until an allocation needs the space.
#include <cstdint>
#include <list>
#include <optional>
#include <span>
#include <unordered_map>
#include <vector>

namespace ember {

// Hash of a full block: its tokens chained with the predecessor's hash (0 for the first block).
uint64_t block_hash(uint64_t parent_hash, std::span<const int32_t> tokens);

class BlockPool {
 public:
  explicit BlockPool(int num_blocks);

  int num_blocks() const { return int(meta_.size()); }
  // Blocks an allocation can take: never used, or cached with no user (evictable).
  int num_free() const { return int(free_.size() + lru_.size()); }
  int num_in_use() const { return num_blocks() - num_free(); }
  int num_cached() const { return int(by_hash_.size()); }
  int refcount(int32_t b) const { return meta_.at(b).refs; }

  // A block with refcount 1 and no hash; evicts the least recently freed cached block when no
  // plain free block is left. nullopt when every block is in use.
  std::optional<int32_t> allocate();
  void retain(int32_t b);
  void release(int32_t b);

  // Prefix cache. find() takes a reference on the block that holds exactly these tokens after
  // this parent; insert() publishes a full, computed block (no-op when the hash is taken).
  std::optional<int32_t> find(uint64_t hash, uint64_t parent_hash, std::span<const int32_t> tokens);
  void insert(int32_t b, uint64_t hash, uint64_t parent_hash, std::span<const int32_t> tokens);

  // Verifies the internal invariants (lists, table and counts agree); throws on a defect.
  void check_invariants() const;

 private:
  struct Meta {
    int refs = 0;
    bool hashed = false;
    uint64_t hash = 0, parent_hash = 0;
    std::vector<int32_t> tokens;  // kept to rule out hash collisions
    std::list<int32_t>::iterator lru_pos;
    bool in_lru = false;
  };
  std::vector<Meta> meta_;
  std::vector<int32_t> free_;  // uncached blocks, stack
  std::list<int32_t> lru_;     // cached blocks without users, least recently freed first
  std::unordered_map<uint64_t, int32_t> by_hash_;
};

}  // namespace ember
