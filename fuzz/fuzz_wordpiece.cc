// Fuzzes the WordPiece tokenizer (BertNormalizer, BertPreTokenizer, added tokens with lstrip /
// rstrip, truncation by prefixes): no crash, no hang, every id in the vocabulary, the special
// tokens around the ids, and a truncated encoding equal to the first ids of the full one. The
// first byte picks the truncation limit.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "engine/text/bert_text.h"
#include "engine/text/wordpiece_tokenizer.h"

namespace {

const char* kJson = R"({
  "added_tokens": [
    {"id": 0, "content": "[PAD]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
    {"id": 1, "content": "[UNK]", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
    {"id": 2, "content": "<s>", "special": true, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
    {"id": 3, "content": "</s>", "special": true, "normalized": false, "lstrip": false, "rstrip": true, "single_word": false},
    {"id": 4, "content": "<mask>", "special": true, "normalized": false, "lstrip": true, "rstrip": false, "single_word": false},
    {"id": 5, "content": "<unk>", "special": true, "normalized": true, "lstrip": false, "rstrip": false, "single_word": false}
  ],
  "normalizer": {"type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": null, "lowercase": true},
  "pre_tokenizer": {"type": "BertPreTokenizer"},
  "post_processor": {"type": "RobertaProcessing", "sep": ["</s>", 3], "cls": ["<s>", 2], "trim_offsets": true, "add_prefix_space": false},
  "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##", "max_input_chars_per_word": 12,
    "vocab": {"[PAD]": 0, "[UNK]": 1, "<s>": 2, "</s>": 3, "<mask>": 4, "<unk>": 5, "a": 6, "##a": 7, "b": 8, "##b": 9,
              "ab": 10, "##ab": 11, "é": 12, "e": 13, "##e": 14, ",": 15, "!": 16, "中": 17, "<": 18, ">": 19, "i": 20, "##i": 21}}
})";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const ember::WordPieceTokenizer tok = ember::WordPieceTokenizer::from_json(kJson);
  if (size == 0) return 0;
  const int limit = data[0] % 64;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  const auto all = tok.encode(text);
  if (all.size() < 2 || all.front() != 2 || all.back() != 3) std::abort();
  for (int32_t id : all)
    if (id < 0 || size_t(id) >= tok.vocab_size()) std::abort();
  if (limit >= 3) {
    const auto cut = tok.encode(text, limit);
    const size_t n = std::min(all.size() - 1, size_t(limit - 1));
    if (cut.size() != n + 1 || cut.back() != 3) std::abort();
    for (size_t i = 0; i < n; ++i)
      if (cut[i] != all[i]) std::abort();
  }
  (void)ember::text::bert_pre_tokenize(text);
  return 0;
}
