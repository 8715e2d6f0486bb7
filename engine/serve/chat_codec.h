#pragma once
// The TextCodec of a model folder: its chat template (engine/text/chat_template.h) and its
// tokenizer (engine/text/tokenizer.h).
#include <memory>
#include <string>

#include "engine/serve/text_codec.h"
#include "engine/text/chat_template.h"
#include "engine/text/tokenizer.h"

namespace ember {

class ChatCodec : public TextCodec {
 public:
  ChatCodec(Tokenizer tok, text::ChatTemplate tmpl) : tok_(std::move(tok)), tmpl_(std::move(tmpl)) {}
  // nullptr when DIR has no tokenizer.json (the engine then takes prompt ids only).
  static std::shared_ptr<ChatCodec> from_model_dir(const std::string& dir);

  std::vector<int32_t> encode_chat(const std::vector<ChatMessage>& messages) override;
  std::vector<int32_t> encode_text(std::string_view text, bool add_special) override;
  std::string decode(std::span<const int32_t> ids) override;
  std::string decode_with_special(std::span<const int32_t> ids) override;
  std::string token_text(int32_t id) override;  // engine/text/token_text.h
  std::vector<int32_t> eos_token_ids() const override;

  // The rendered prompt text (for `ember chat --show-prompt` and debugging).
  std::string render(const std::vector<ChatMessage>& messages) const;
  const Tokenizer& tokenizer() const { return tok_; }

 private:
  Tokenizer tok_;
  text::ChatTemplate tmpl_;
};

}  // namespace ember
