#pragma once
// What the engine needs from the text layer: messages -> prompt ids (chat template + tokenizer)
// and ids -> text. The engine works without one (prompt ids in, token ids out); chat_codec.h
// builds one from the model directory's tokenizer and template.
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/serve/request.h"

namespace ember {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  // Renders the conversation with the chat template (adding the assistant turn's prefix) and
  // tokenizes it. Throws ember::Error on a template or tokenizer failure.
  virtual std::vector<int32_t> encode_chat(const std::vector<ChatMessage>& messages) = 0;
  // Tokenizes raw text (no template); `add_special` adds BOS as the model's tokenizer does.
  virtual std::vector<int32_t> encode_text(std::string_view text, bool add_special) {
    (void)text, (void)add_special;
    fail_no_text_encoder();
  }
  // Detokenizes, skipping special tokens. May end in an incomplete UTF-8 sequence or U+FFFD
  // when the ids stop mid-character; TextStream waits for the rest.
  virtual std::string decode(std::span<const int32_t> ids) = 0;
  // The same with special tokens written out (vLLM's skip_special_tokens=false).
  virtual std::string decode_with_special(std::span<const int32_t> ids) { return decode(ids); }
  // One token as a logprobs entry names it: the id decoded alone with special tokens, as vLLM's
  // entries hold it (bytes that are not valid UTF-8 alone become U+FFFD).
  virtual std::string token_text(int32_t id) { return decode_with_special({&id, 1}); }
  // Ids that end a turn besides the model config's EOS (e.g. the template's <|im_end|>).
  virtual std::vector<int32_t> eos_token_ids() const { return {}; }

 private:
  [[noreturn]] static void fail_no_text_encoder();
};

}  // namespace ember
