#pragma once
// A model's chat template: found where Hugging Face keeps it (chat_template.jinja,
// chat_template.json or tokenizer_config.json), and rendered with the variables
// transformers' apply_chat_template passes, so that the prompt ember builds is byte for byte
// the one the model was trained on.
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/text/jinja/template.h"
#include "engine/text/jinja/value.h"

namespace ember::text {

struct ChatMessage {
  std::string role;
  std::string content;
};

// Special tokens the template sees as variables (bos_token, eos_token, unk_token, pad_token);
// an absent one stays undefined, as with transformers.
struct SpecialTokens {
  std::optional<std::string> bos, eos, unk, pad;
};

struct ChatRenderOptions {
  bool add_generation_prompt = true;
  jinja::Value tools = jinja::Value::none();  // a list of tool schemas, or None
  // Extra template variables (e.g. enable_thinking); a dict or left undefined.
  jinja::Value extra;
  // The "now" of strftime_now, "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SS". Empty: the environment
  // variable EMBER_TEMPLATE_DATE, else the current local time (what transformers uses).
  std::string date;
  jinja::RenderLimits limits;
};

class ChatTemplate {
 public:
  // The template of a model folder: chat_template.jinja, else chat_template.json, else the
  // chat_template of tokenizer_config.json; special tokens from tokenizer_config.json.
  // A folder without any template gets the plain fallback (is_fallback()).
  static ChatTemplate from_model_dir(const std::filesystem::path& dir);
  // The chat_template of a tokenizer_config.json (a string, or a list of {name, template} of
  // which "default" is used) and its special tokens.
  static ChatTemplate from_tokenizer_config(const std::filesystem::path& file);
  static ChatTemplate from_source(std::string source, SpecialTokens tokens);

  // `messages` is a list of message dicts as JSON gives them (content may be a list of parts).
  // Throws jinja::TemplateRaise when the template refuses the conversation, jinja::TemplateError
  // for errors in the template itself.
  std::string render(const jinja::Value& messages, const ChatRenderOptions& options = {}) const;
  std::string render(const std::vector<ChatMessage>& messages, const ChatRenderOptions& options = {}) const;

  bool is_fallback() const { return !template_; }
  const std::string& source() const { return source_; }
  const SpecialTokens& special_tokens() const { return tokens_; }

 private:
  std::string source_;
  SpecialTokens tokens_;
  std::shared_ptr<jinja::Template> template_;
};

// Fallback for models without a chat template (base models): each message as
// "role: content\n", then "assistant: " when a generation prompt is wanted. List contents
// contribute their text parts.
std::string render_plain_chat(const jinja::Value& messages, bool add_generation_prompt);

// Messages in a simple struct form as the template's list of {"role", "content"} dicts.
jinja::Value messages_value(const std::vector<ChatMessage>& messages);

}  // namespace ember::text
