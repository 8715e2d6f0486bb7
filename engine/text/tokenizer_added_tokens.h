#pragma once
// Added tokens (special or not) are found in the raw text before normalization and become
// their own ids; the text between them is tokenized normally. Matching is leftmost-longest, as
// HF tokenizers does, with the lstrip / rstrip / single_word flags.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace ember::text {

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool special = false;
  bool lstrip = false, rstrip = false, single_word = false, normalized = false;
};

// A piece of the input: either an added token's id or a stretch of plain text.
struct Segment {
  int32_t id = -1;  // >= 0: an added token
  size_t begin = 0, end = 0;  // the text range (for an added token: what it consumed)
};

class AddedTokenMatcher {
 public:
  // `include_special`: whether special tokens are matched too (parse_special).
  void build(const std::vector<AddedToken>& tokens, bool include_special);
  bool empty() const { return count_ == 0; }
  // Cuts text into segments; plain-text segments are never empty.
  void split(std::string_view text, std::vector<Segment>& out) const;

 private:
  std::vector<const AddedToken*> tokens_;
  std::array<std::vector<uint32_t>, 256> by_first_;  // indices into tokens_, longest first
  size_t count_ = 0;
};

}  // namespace ember::text
