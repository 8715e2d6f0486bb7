#pragma once
// What the engine needs from the text layer: messages -> prompt ids (chat template + tokenizer)
// and ids -> text. The engine works without one (prompt ids in, token ids out); chat_codec.h
// builds one from the model directory's tokenizer and template.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "engine/serve/request.h"

namespace ember {

class TextCodec {
 public:
  virtual ~TextCodec() = default;
  // Renders the conversation with the chat template (adding the assistant turn's prefix) and
  // tokenizes it. Throws ember::Error on a template or tokenizer failure.
  virtual std::vector<int32_t> encode_chat(const std::vector<ChatMessage>& messages) = 0;
  // Detokenizes, skipping special tokens. May end in an incomplete UTF-8 sequence or U+FFFD
  // when the ids stop mid-character; TextStream waits for the rest.
  virtual std::string decode(std::span<const int32_t> ids) = 0;
  // Ids that end a turn besides the model config's EOS (e.g. the template's <|im_end|>).
  virtual std::vector<int32_t> eos_token_ids() const { return {}; }
};

}  // namespace ember
