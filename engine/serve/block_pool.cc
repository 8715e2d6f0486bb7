#include "engine/serve/block_pool.h"

#include <algorithm>

#include "engine/core/error.h"

namespace ember {

namespace {
uint64_t mix(uint64_t x) {  // splitmix64 finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}
}  // namespace

uint64_t block_hash(uint64_t parent_hash, std::span<const int32_t> tokens) {
  uint64_t h = mix(parent_hash ^ 0x9e3779b97f4a7c15ull);
  for (int32_t t : tokens) h = mix(h ^ uint32_t(t));
  return h | 1;  // never 0, the parent hash of a first block
}

BlockPool::BlockPool(int num_blocks) : meta_(size_t(std::max(num_blocks, 0))) {
  if (num_blocks <= 0) fail("kv cache: the pool needs at least one block, got {}", num_blocks);
  free_.reserve(size_t(num_blocks));
  for (int b = num_blocks - 1; b >= 0; --b) free_.push_back(b);
}

std::optional<int32_t> BlockPool::allocate() {
  int32_t b;
  if (!free_.empty()) {
    b = free_.back();
    free_.pop_back();
  } else if (!lru_.empty()) {
    b = lru_.front();
    lru_.pop_front();
    Meta& m = meta_[b];
    m.in_lru = false;
    by_hash_.erase(m.hash);
    m.hashed = false;
    m.tokens.clear();
  } else {
    return std::nullopt;
  }
  meta_[b].refs = 1;
  return b;
}

void BlockPool::retain(int32_t b) {
  Meta& m = meta_.at(b);
  if (m.refs == 0) fail("kv cache: retain of free block {}", b);
  ++m.refs;
}

void BlockPool::release(int32_t b) {
  Meta& m = meta_.at(b);
  if (m.refs <= 0) fail("kv cache: release of free block {}", b);
  if (--m.refs > 0) return;
  if (m.hashed) {
    m.lru_pos = lru_.insert(lru_.end(), b);
    m.in_lru = true;
  } else {
    free_.push_back(b);
  }
}

std::optional<int32_t> BlockPool::find(uint64_t hash, uint64_t parent_hash,
                                       std::span<const int32_t> tokens) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return std::nullopt;
  Meta& m = meta_[it->second];
  if (m.parent_hash != parent_hash || !std::equal(tokens.begin(), tokens.end(), m.tokens.begin(),
                                                  m.tokens.end()))
    return std::nullopt;
  if (m.in_lru) {
    lru_.erase(m.lru_pos);
    m.in_lru = false;
  }
  ++m.refs;
  return it->second;
}

void BlockPool::insert(int32_t b, uint64_t hash, uint64_t parent_hash,
                       std::span<const int32_t> tokens) {
  Meta& m = meta_.at(b);
  if (m.refs == 0) fail("kv cache: publishing free block {}", b);
  if (m.hashed || by_hash_.count(hash)) return;
  m.hashed = true;
  m.hash = hash;
  m.parent_hash = parent_hash;
  m.tokens.assign(tokens.begin(), tokens.end());
  by_hash_.emplace(hash, b);
}

void BlockPool::check_invariants() const {
  size_t free_count = 0, lru_count = 0, hashed = 0;
  std::vector<int> seen(meta_.size(), 0);
  for (int32_t b : free_) {
    if (meta_[b].refs != 0 || meta_[b].hashed) fail("kv cache: free block {} in use or cached", b);
    ++seen[b];
    ++free_count;
  }
  for (int32_t b : lru_) {
    if (meta_[b].refs != 0 || !meta_[b].hashed || !meta_[b].in_lru)
      fail("kv cache: lru block {} inconsistent", b);
    ++seen[b];
    ++lru_count;
  }
  for (size_t b = 0; b < meta_.size(); ++b) {
    if (meta_[b].refs < 0) fail("kv cache: block {} has refcount {}", b, meta_[b].refs);
    if (meta_[b].refs == 0 && seen[b] != 1)
      fail("kv cache: block {} is unused but listed {} times", b, seen[b]);
    if (meta_[b].refs > 0 && seen[b] != 0) fail("kv cache: block {} is used and listed free", b);
    if (meta_[b].hashed) {
      ++hashed;
      auto it = by_hash_.find(meta_[b].hash);
      if (it == by_hash_.end() || it->second != int32_t(b))
        fail("kv cache: hashed block {} missing from the table", b);
    }
  }
  if (hashed != by_hash_.size()) fail("kv cache: hash table has stale entries");
}

}  // namespace ember
