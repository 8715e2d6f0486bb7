#pragma once
// The BPE model: one word in, token ids out. Merging runs once over the word with a priority
// queue keyed by merge rank (lowest rank first, leftmost on ties, as HF tokenizers does), so a
// long word costs O(n log n), not O(n^2). Byte-level vocabularies are keyed by raw bytes here.
#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace ember::text {

struct BpeOptions {
  bool byte_level = false;     // symbols are bytes; vocab keys are raw bytes
  bool byte_fallback = false;  // unknown characters become <0xXX> tokens
  bool fuse_unk = false;       // consecutive unknowns become one unk token
  bool ignore_merges = false;  // a word that is itself in the vocab is emitted whole
  std::optional<int32_t> unk_id;
};

// Open-addressing map from a token-id pair to (rank, merged id); the hot lookup of merging.
class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t merged = 0;
  };
  void build(const std::vector<Entry>& entries);
  const Entry* find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = pack(left, right);
    for (size_t i = hash(key) & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }
  static uint64_t pack(int32_t l, int32_t r) { return (uint64_t(uint32_t(l)) << 32) | uint32_t(r); }
  size_t size() const { return count_; }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  static size_t hash(uint64_t k) {  // a full 64-bit mix: both ids must reach the low bits
    k ^= k >> 31;
    k *= 0x9E3779B97F4A7C15ull;
    k ^= k >> 29;
    return size_t(k);
  }
  std::vector<Entry> slots_;
  size_t mask_ = 0, count_ = 0;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using VocabMap = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

class BpeModel {
 public:
  BpeModel() = default;
  // `vocab` keys are in the model's symbol form (raw bytes when byte_level); merges are pairs
  // of keys in rank order. Merges whose parts or result are not in the vocab are errors.
  BpeModel(VocabMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           BpeOptions opts, const std::string& source);

  // Appends the ids of one pre-tokenized word.
  void encode(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> find(std::string_view key) const {
    auto it = vocab_.find(key);
    if (it == vocab_.end()) return std::nullopt;
    return it->second;
  }
  const VocabMap& vocab() const { return vocab_; }
  const BpeOptions& options() const { return opts_; }
  size_t num_merges() const { return merges_.size(); }

 private:
  void encode_piece(std::string_view word, std::vector<int32_t>& out) const;

  VocabMap vocab_;
  // SentencePiece-style vocabularies whose tokens never hold "▁" after another character: no
  // merge can cross the start of a "▁"-word, so a long unsplit text is merged word by word.
  bool split_at_marker_ = false;
  MergeTable merges_;
  BpeOptions opts_;
  std::array<int32_t, 256> byte_ids_{};   // byte-level: the id of each byte; else <0xXX> ids
  std::array<int32_t, 128> ascii_ids_{};  // SentencePiece-style: the id of each ASCII char
};

}  // namespace ember::text
