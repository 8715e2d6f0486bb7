#pragma once
// Text <-> token ids with a Hugging Face tokenizer.json: byte-level BPE (Llama-3, Qwen2/2.5/3,
// GPT-2 style) and SentencePiece-style BPE with byte fallback (Llama-2, Mistral, Phi-3).
// A Tokenizer is immutable after load, cheap to copy (shared state) and safe to use from many
// threads at once.
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember {

namespace text {
struct TokenizerData;
}

struct EncodeOptions {
  bool add_special = false;    // add BOS/EOS as the post_processor / tokenizer_config say
  bool parse_special = false;  // special-token strings in the text become their ids
};

struct DecodeOptions {
  bool skip_special = false;  // leave special tokens (BOS, EOS, chat markers) out of the text
};

class Tokenizer {
 public:
  // `path` is a model directory (holding tokenizer.json) or a tokenizer.json file. The
  // tokenizer_config.json beside it (when present) names bos/eos tokens and add_bos_token /
  // add_eos_token; generation_config.json adds its eos_token_id(s). Throws ember::Error.
  static Tokenizer load(const std::string& path);
  // The same from file contents; `config_json` / `generation_json` may be empty.
  static Tokenizer from_json(std::string_view tokenizer_json, std::string_view config_json = {},
                             std::string_view generation_json = {},
                             const std::string& source = "tokenizer.json");

  // Invalid UTF-8 in `text` is replaced by U+FFFD before tokenization.
  std::vector<int32_t> encode(std::string_view text, EncodeOptions opts = {}) const;
  // Always returns valid UTF-8. Throws ember::Error on an id outside [0, vocab_size()).
  std::string decode(std::span<const int32_t> ids, DecodeOptions opts = {}) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  // The token's string as the vocabulary spells it (byte-level or "▁" form), or nullopt.
  std::optional<std::string> id_to_token(int32_t id) const;
  bool is_special(int32_t id) const;

  std::optional<int32_t> bos_id() const;
  const std::vector<int32_t>& eos_ids() const;  // every id that ends generation
  size_t vocab_size() const;                     // one past the largest id

 private:
  friend class StreamDecoder;
  explicit Tokenizer(std::shared_ptr<const text::TokenizerData> d) : d_(std::move(d)) {}
  std::shared_ptr<const text::TokenizerData> d_;
};

// Decodes a stream of generated ids one at a time. Each push returns only complete UTF-8 text
// (byte-fallback and byte-level pieces of one character are held until it is complete); the
// concatenation of all pushes and flush() equals decode() of all ids, including the
// SentencePiece rule that drops the leading space of the first token.
class StreamDecoder {
 public:
  explicit StreamDecoder(const Tokenizer& tok, DecodeOptions opts = {});
  std::string push(int32_t id);
  // The held bytes at the end of the stream (an incomplete character becomes U+FFFD).
  std::string flush();

 private:
  std::string emit(std::string ready);

  std::shared_ptr<const text::TokenizerData> d_;
  DecodeOptions opts_;
  std::string pending_;  // byte-level bytes not yet a complete character
  std::string group_;    // byte-fallback bytes not yet a complete character
  std::string held_;     // trailing characters a Strip(stop) rule may still remove
  size_t strip_left_ = 0;
};

}  // namespace ember
