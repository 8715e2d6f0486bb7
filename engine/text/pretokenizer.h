#pragma once
// Pre-tokenizers: split a normalized text segment into the words that BPE sees. Supports the
// steps the Llama/Qwen/GPT-2/Mistral families use: Split (regex or literal, every HF split
// behaviour), ByteLevel (prefix space and the GPT-2 regex; its byte-to-char mapping is done by
// the byte-level BPE model instead), Metaspace, Digits, and Sequence of these.
#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/text/pretokenizer_regex.h"

namespace ember::text {

struct Piece {
  std::string_view text;
  bool at_start = false;  // begins at offset 0 of the whole input (Metaspace prepend "first")
};

enum class SplitBehavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

struct PreTokenizerStep {
  enum class Kind { Split, ByteLevel, Metaspace } kind = Kind::Split;
  // Split (ByteLevel with use_regex uses the GPT-2 pattern here too)
  std::shared_ptr<const Regex> regex;
  std::string literal;  // a String pattern, when regex is null
  SplitBehavior behavior = SplitBehavior::Isolated;
  bool invert = false;
  // ByteLevel
  bool add_prefix_space = false;
  // Metaspace
  std::string replacement;
  enum class Prepend { Always, First, Never } prepend = Prepend::Always;
  bool split = false;
};

class PreTokenizer {
 public:
  void add(PreTokenizerStep step) { steps_.push_back(std::move(step)); }
  bool empty() const { return steps_.empty(); }

  // Splits `segment` into pieces appended to `out`; new strings (a prepended space, replaced
  // spaces) live in `arena`, which must outlive the pieces.
  void run(Piece segment, std::vector<Piece>& out, std::deque<std::string>& arena) const;

 private:
  std::vector<PreTokenizerStep> steps_;
};

// The GPT-2 pattern that ByteLevel applies when use_regex is true.
inline constexpr const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace ember::text
