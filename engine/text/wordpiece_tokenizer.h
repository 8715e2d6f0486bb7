#pragma once
// A WordPiece tokenizer from a Hugging Face tokenizer.json (BERT, MPNet and their
// sentence-transformers descendants): added tokens matched in the raw text first, then
// BertNormalizer, BertPreTokenizer, greedy longest-match WordPiece with a continuation prefix
// ("##"), and the post-processor's special tokens ([CLS] ... [SEP], or <s> ... </s>) around the
// ids. Encoding only: an encoder needs no decoding. Immutable after load; safe to use from many
// threads at once.
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember {

namespace text {
struct WordPieceData;
}

class WordPieceTokenizer {
 public:
  // `path` is a model folder holding tokenizer.json, or the file itself. Throws ember::Error
  // naming the file and field when it is not a WordPiece tokenizer this class reproduces.
  static WordPieceTokenizer load(const std::string& path);
  static WordPieceTokenizer from_json(std::string_view tokenizer_json,
                                      const std::string& source = "tokenizer.json");

  // The ids of `text` with the special tokens around them. With max_tokens > 0 the text's own
  // ids are cut so that the total is at most max_tokens (truncation from the right, as
  // transformers does for a single sequence). Invalid UTF-8 is replaced by U+FFFD first (which
  // BertNormalizer then drops).
  std::vector<int32_t> encode(std::string_view text, int max_tokens = 0) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  size_t vocab_size() const;  // one past the largest id
  // How many special tokens encode() adds around a text.
  int num_special_tokens() const;

 private:
  explicit WordPieceTokenizer(std::shared_ptr<const text::WordPieceData> d) : d_(std::move(d)) {}
  std::shared_ptr<const text::WordPieceData> d_;
};

}  // namespace ember
