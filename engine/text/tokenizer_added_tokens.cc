#include "engine/text/tokenizer_added_tokens.h"

#include <algorithm>

namespace ember::text {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

bool is_word_byte(char c) {
  const auto u = static_cast<uint8_t>(c);
  return u >= 0x80 || (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

}  // namespace

void AddedTokenMatcher::build(const std::vector<AddedToken>& tokens, bool include_special) {
  tokens_.clear();
  for (auto& v : by_first_) v.clear();
  for (const AddedToken& t : tokens) {
    if (t.content.empty() || (t.special && !include_special)) continue;
    by_first_[static_cast<uint8_t>(t.content[0])].push_back(uint32_t(tokens_.size()));
    tokens_.push_back(&t);
  }
  for (auto& v : by_first_)
    std::stable_sort(v.begin(), v.end(), [&](uint32_t a, uint32_t b) {
      return tokens_[a]->content.size() > tokens_[b]->content.size();
    });
  count_ = tokens_.size();
}

void AddedTokenMatcher::split(std::string_view text, std::vector<Segment>& out) const {
  size_t plain = 0;  // start of the pending plain-text stretch
  for (size_t i = 0; i < text.size();) {
    const auto& cands = by_first_[static_cast<uint8_t>(text[i])];
    const AddedToken* hit = nullptr;
    for (uint32_t k : cands) {
      const AddedToken* t = tokens_[k];
      if (text.compare(i, t->content.size(), t->content) != 0) continue;
      if (t->single_word) {
        const size_t e = i + t->content.size();
        if ((i > 0 && is_word_byte(text[i - 1])) || (e < text.size() && is_word_byte(text[e])))
          continue;
      }
      hit = t;
      break;
    }
    if (!hit) {
      ++i;
      continue;
    }
    size_t b = i, e = i + hit->content.size();
    if (hit->lstrip)
      while (b > plain && is_space(text[b - 1])) --b;
    if (hit->rstrip)
      while (e < text.size() && is_space(text[e])) ++e;
    if (b > plain) out.push_back({-1, plain, b});
    out.push_back({hit->id, b, e});
    plain = i = e;
  }
  if (plain < text.size()) out.push_back({-1, plain, text.size()});
}

}  // namespace ember::text
