#pragma once
// BERT's text preparation, as Hugging Face tokenizers' BertNormalizer and BertPreTokenizer do it
// (the rules of the original BERT tokenizer): used by WordPiece tokenizers.
#include <string>
#include <string_view>
#include <vector>

namespace ember::text {

struct BertNormalizerOptions {
  bool clean_text = true;            // drop NUL, U+FFFD and control chars; whitespace -> ' '
  bool handle_chinese_chars = true;  // put spaces around CJK ideographs (each becomes a word)
  bool strip_accents = true;         // NFD, then drop nonspacing marks (null in the file: = lowercase)
  bool lowercase = true;             // per character, full Unicode mapping
};

// Rewrites valid UTF-8 `s` as BertNormalizer does.
std::string bert_normalize(std::string_view s, const BertNormalizerOptions& o);

// Splits on whitespace (dropped) and around every punctuation character (each kept as a word of
// its own), as BertPreTokenizer does. The words point into `s`.
std::vector<std::string_view> bert_pre_tokenize(std::string_view s);

}  // namespace ember::text
