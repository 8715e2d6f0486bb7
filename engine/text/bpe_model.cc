#include "engine/text/bpe_model.h"

#include <algorithm>
#include <queue>

#include <fmt/format.h>

#include "engine/core/error.h"
#include "engine/text/tokenizer_utf8.h"

namespace ember::text {

static constexpr std::string_view kMarker = "\xE2\x96\x81";  // "▁", SentencePiece's space

void MergeTable::build(const std::vector<Entry>& entries) {
  size_t cap = 16;
  while (cap < entries.size() * 2) cap <<= 1;
  slots_.assign(cap, Entry{});
  mask_ = cap - 1;
  count_ = 0;
  for (const Entry& e : entries) {
    size_t i = hash(e.key) & mask_;
    while (slots_[i].key != kEmpty && slots_[i].key != e.key) i = (i + 1) & mask_;
    // A duplicated pair keeps its first (lowest) rank, as HF does when it builds its map.
    if (slots_[i].key == kEmpty) {
      slots_[i] = e;
      ++count_;
    }
  }
}

BpeModel::BpeModel(VocabMap vocab, const std::vector<std::pair<std::string, std::string>>& merges,
                   BpeOptions opts, const std::string& source)
    : vocab_(std::move(vocab)), opts_(opts) {
  std::vector<MergeTable::Entry> entries;
  entries.reserve(merges.size());
  std::string joined;
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto& [l, rt] = merges[r];
    auto li = vocab_.find(l), ri = vocab_.find(rt);
    joined.assign(l).append(rt);
    auto mi = vocab_.find(joined);
    if (li == vocab_.end() || ri == vocab_.end() || mi == vocab_.end())
      fail("{}: merge {} ('{}' '{}') names a token that is not in the vocab", source, r,
           utf8_lossy(l), utf8_lossy(rt));
    entries.push_back({MergeTable::pack(li->second, ri->second), int32_t(r), mi->second});
  }
  merges_.build(entries);

  byte_ids_.fill(-1);
  ascii_ids_.fill(-1);
  for (int b = 0; b < 256; ++b) {
    if (opts_.byte_level) {
      const char c = char(b);
      if (auto id = find(std::string_view(&c, 1))) byte_ids_[b] = *id;
    } else if (opts_.byte_fallback) {
      if (auto id = find(fmt::format("<0x{:02X}>", b))) byte_ids_[b] = *id;
    }
  }
  if (!opts_.byte_level) {
    split_at_marker_ = find(kMarker).has_value();
    for (const auto& [key, id] : vocab_) {
      for (size_t at = key.find(kMarker, 1); split_at_marker_ && at != std::string::npos;
           at = key.find(kMarker, at + kMarker.size()))
        if (at < kMarker.size() || key.compare(at - kMarker.size(), kMarker.size(), kMarker) != 0)
          split_at_marker_ = false;
      if (!split_at_marker_) break;
    }
    for (int c = 0; c < 128; ++c) {
      const char ch = char(c);
      if (auto id = find(std::string_view(&ch, 1))) ascii_ids_[c] = *id;
    }
  }
}

namespace {

struct Symbol {
  int32_t id;
  int32_t prev, next;
  bool unk;  // an unknown character (fused with its unknown neighbours under fuse_unk)
};

struct Candidate {
  int32_t rank, pos, merged;
  bool operator<(const Candidate& o) const {  // std::priority_queue pops the largest
    return rank != o.rank ? rank > o.rank : pos > o.pos;
  }
};

struct Scratch {
  std::vector<Symbol> symbols;
  std::vector<Candidate> heap;
};

Scratch& scratch() {
  thread_local Scratch s;
  return s;
}

}  // namespace

void BpeModel::encode(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (opts_.ignore_merges) {
    if (auto id = find(word)) {
      out.push_back(*id);
      return;
    }
  }
  if (!split_at_marker_) {
    encode_piece(word, out);
    return;
  }
  // Cut before each "▁" that follows another character.
  size_t start = 0;
  for (size_t at = word.find(kMarker, 1); at != std::string_view::npos;
       at = word.find(kMarker, at + kMarker.size())) {
    if (at >= start + kMarker.size() && word.compare(at - kMarker.size(), kMarker.size(), kMarker) == 0)
      continue;
    if (at > start) encode_piece(word.substr(start, at - start), out);
    start = at;
  }
  encode_piece(word.substr(start), out);
}

void BpeModel::encode_piece(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  Scratch& s = scratch();
  auto& sym = s.symbols;
  sym.clear();
  const auto push = [&](int32_t id, bool unk) {
    if (unk && opts_.fuse_unk && !sym.empty() && sym.back().unk) return;
    sym.push_back({id, int32_t(sym.size()) - 1, int32_t(sym.size()) + 1, unk});
  };

  if (opts_.byte_level) {
    for (char c : word) {
      const int32_t id = byte_ids_[static_cast<uint8_t>(c)];
      if (id >= 0) push(id, false);
      else if (opts_.unk_id) push(*opts_.unk_id, true);
    }
  } else {
    for (size_t i = 0; i < word.size();) {
      const uint8_t c = static_cast<uint8_t>(word[i]);
      if (c < 0x80 && ascii_ids_[c] >= 0) {
        push(ascii_ids_[c], false);
        ++i;
        continue;
      }
      size_t len = utf8_valid_len(word, i);
      if (len == 0) len = 1;  // callers pass valid UTF-8; stay safe on a stray byte
      const std::string_view ch = word.substr(i, len);
      if (auto id = find(ch)) {
        push(*id, false);
      } else {
        bool all_bytes = opts_.byte_fallback;
        for (size_t k = 0; all_bytes && k < len; ++k)
          all_bytes = byte_ids_[static_cast<uint8_t>(ch[k])] >= 0;
        if (all_bytes) {
          for (size_t k = 0; k < len; ++k) push(byte_ids_[static_cast<uint8_t>(ch[k])], false);
        } else if (opts_.unk_id) {
          push(*opts_.unk_id, true);
        }
      }
      i += len;
    }
  }
  if (sym.empty()) return;
  sym.back().next = -1;

  if (merges_.size() > 0 && sym.size() > 1) {
    auto& heap = s.heap;
    heap.clear();
    const auto consider = [&](int32_t pos) {
      const int32_t nx = sym[pos].next;
      if (nx < 0) return;
      if (const auto* e = merges_.find(sym[pos].id, sym[nx].id)) {
        heap.push_back({e->rank, pos, e->merged});
        std::push_heap(heap.begin(), heap.end());
      }
    };
    for (int32_t i = 0; i + 1 < int32_t(sym.size()); ++i) consider(i);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end());
      const Candidate top = heap.back();
      heap.pop_back();
      Symbol& left = sym[top.pos];
      // Stale entries: the left symbol was merged away, or its right neighbour changed.
      if (left.id < 0 || left.next < 0) continue;
      Symbol& right = sym[left.next];
      const auto* e = merges_.find(left.id, right.id);
      if (!e || e->merged != top.merged || e->rank != top.rank) continue;
      left.id = top.merged;
      left.unk = false;
      right.id = -1;
      left.next = right.next;
      if (right.next >= 0) sym[right.next].prev = top.pos;
      if (left.prev >= 0) consider(left.prev);
      consider(top.pos);
    }
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace ember::text
