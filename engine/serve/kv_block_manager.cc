#include "engine/serve/kv_block_manager.h"

#include "engine/core/error.h"

namespace ember {

KvBlockManager::KvBlockManager(int num_blocks, int block_size, bool prefix_caching)
    : pool_(num_blocks), block_size_(block_size), prefix_caching_(prefix_caching) {
  if (block_size <= 0) fail("kv cache: block size must be positive, got {}", block_size);
}

const std::vector<int32_t>& KvBlockManager::table(SeqId id) const {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) fail("kv cache: unknown sequence {}", id);
  return it->second.table;
}

int KvBlockManager::admit(SeqId id, std::span<const int32_t> tokens) {
  if (seqs_.count(id)) fail("kv cache: sequence {} admitted twice", id);
  Seq& s = seqs_[id];
  if (!prefix_caching_ || tokens.empty()) return 0;
  stats_.queried_tokens += int64_t(tokens.size());
  const size_t max_blocks = (tokens.size() - 1) / size_t(block_size_);
  uint64_t parent = 0;
  for (size_t b = 0; b < max_blocks; ++b) {
    auto chunk = tokens.subspan(b * block_size_, size_t(block_size_));
    const uint64_t h = block_hash(parent, chunk);
    auto found = pool_.find(h, parent, chunk);
    if (!found) break;
    s.table.push_back(*found);
    s.hashes.push_back(h);
    parent = h;
  }
  const int cached = int(s.table.size()) * block_size_;
  stats_.hit_tokens += cached;
  return cached;
}

int KvBlockManager::blocks_needed(SeqId id, int from, int new_len) const {
  const Seq& s = seqs_.at(id);
  const int have = int(s.table.size());
  const int want = (new_len + block_size_ - 1) / block_size_;
  int n = std::max(0, want - have);
  for (int b = from / block_size_; b < std::min(have, want); ++b)
    if (pool_.refcount(s.table[b]) > 1) ++n;
  return n;
}

bool KvBlockManager::reserve(SeqId id, int from, int new_len, std::vector<BlockCopy>& copies) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) fail("kv cache: unknown sequence {}", id);
  if (blocks_needed(id, from, new_len) > pool_.num_free()) return false;
  Seq& s = it->second;
  const int have = int(s.table.size());
  const int want = (new_len + block_size_ - 1) / block_size_;
  for (int b = from / block_size_; b < std::min(have, want); ++b) {
    const int32_t old = s.table[b];
    if (pool_.refcount(old) <= 1) continue;
    const int32_t fresh = *pool_.allocate();
    copies.push_back({old, fresh});
    pool_.release(old);
    s.table[b] = fresh;
    // A written block can no longer be the published one; the chain ends before it.
    if (size_t(b) < s.hashes.size()) s.hashes.resize(size_t(b));
  }
  while (int(s.table.size()) < want) s.table.push_back(*pool_.allocate());
  return true;
}

void KvBlockManager::mark_computed(SeqId id, std::span<const int32_t> tokens, int computed) {
  if (!prefix_caching_) return;
  Seq& s = seqs_.at(id);
  const size_t full = std::min(size_t(computed) / size_t(block_size_), s.table.size());
  while (s.hashes.size() < full) {
    const size_t b = s.hashes.size();
    const uint64_t parent = b ? s.hashes[b - 1] : 0;
    auto chunk = tokens.subspan(b * block_size_, size_t(block_size_));
    const uint64_t h = block_hash(parent, chunk);
    pool_.insert(s.table[b], h, parent, chunk);
    s.hashes.push_back(h);
  }
}

void KvBlockManager::fork(SeqId parent, SeqId child) {
  if (seqs_.count(child)) fail("kv cache: sequence {} exists", child);
  Seq copy = seqs_.at(parent);
  for (int32_t b : copy.table) pool_.retain(b);
  seqs_.emplace(child, std::move(copy));
}

void KvBlockManager::free(SeqId id) {
  auto it = seqs_.find(id);
  if (it == seqs_.end()) return;
  // Tail first, so the LRU evicts a sequence's last blocks before its shared head.
  for (auto b = it->second.table.rbegin(); b != it->second.table.rend(); ++b) pool_.release(*b);
  seqs_.erase(it);
}

void KvBlockManager::check_invariants() const {
  pool_.check_invariants();
  std::vector<int> refs(size_t(pool_.num_blocks()), 0);
  for (const auto& [id, s] : seqs_)
    for (int32_t b : s.table) ++refs.at(size_t(b));
  for (int b = 0; b < pool_.num_blocks(); ++b)
    if (refs[b] != pool_.refcount(b))
      fail("kv cache: block {} has refcount {} but {} tables hold it", b, pool_.refcount(b),
           refs[b]);
}

}  // namespace ember
