#include "engine/serve/chat_codec.h"

#include <filesystem>

#include "engine/core/error.h"
#include "engine/text/token_text.h"

namespace ember {

std::shared_ptr<ChatCodec> ChatCodec::from_model_dir(const std::string& dir) {
  if (!std::filesystem::exists(std::filesystem::path(dir) / "tokenizer.json")) return nullptr;
  return std::make_shared<ChatCodec>(Tokenizer::load(dir), text::ChatTemplate::from_model_dir(dir));
}

std::string ChatCodec::render(const std::vector<ChatMessage>& messages) const {
  std::vector<text::ChatMessage> m;
  m.reserve(messages.size());
  for (const auto& x : messages) m.push_back({x.role, x.content});
  return tmpl_.render(m);
}

std::vector<int32_t> ChatCodec::encode_chat(const std::vector<ChatMessage>& messages) {
  std::string prompt;
  try {
    prompt = render(messages);
  } catch (const std::exception& e) {
    fail("chat template: {}", e.what());
  }
  // As transformers' apply_chat_template: the template writes BOS and the turn markers itself.
  return tok_.encode(prompt, EncodeOptions{false, true});
}

std::vector<int32_t> ChatCodec::encode_text(std::string_view text, bool add_special) {
  return tok_.encode(text, EncodeOptions{add_special, false});
}

std::string ChatCodec::decode(std::span<const int32_t> ids) {
  return tok_.decode(ids, DecodeOptions{true});
}

std::string ChatCodec::decode_with_special(std::span<const int32_t> ids) {
  return tok_.decode(ids, DecodeOptions{false});
}

std::string ChatCodec::token_text(int32_t id) { return ember::token_text(tok_, id); }

std::vector<int32_t> ChatCodec::eos_token_ids() const {
  std::vector<int32_t> ids = tok_.eos_ids();
  if (auto eos = tmpl_.special_tokens().eos)
    if (auto id = tok_.token_to_id(*eos)) ids.push_back(*id);
  return ids;
}

}  // namespace ember
