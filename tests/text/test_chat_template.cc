// Finding a model's chat template (tokenizer_config.json, chat_template.json,
// chat_template.jinja), the variables it is rendered with, and the fallback.
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "engine/text/chat_template.h"
#include "engine/text/jinja/builtins.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using ember::text::ChatMessage;
using ember::text::ChatRenderOptions;
using ember::text::ChatTemplate;

namespace {

class TempDir {
 public:
  TempDir() {
    path_ = ember::test::per_test_dir("ember_chat_template");
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }

 private:
  fs::path path_;
};

const std::vector<ChatMessage> kHello = {{"user", "Hello!"}};

TEST(ChatTemplate, ModelDirPrefersJinjaThenJsonThenTokenizerConfig) {
  TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"bos_token": {"content": "<s>", "lstrip": false}, "eos_token": "</s>", "model_max_length": 1000000000000000019884624838656,)"
            R"( "chat_template": "config:{{ bos_token }}{{ messages[0].content }}{{ eos_token }}"})");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir.path()).render(kHello), "config:<s>Hello!</s>");
  dir.write("chat_template.json", R"({"chat_template": "json:{{ bos_token }}"})");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir.path()).render(kHello), "json:<s>");
  dir.write("chat_template.jinja", "jinja:{{ eos_token }}\n");
  EXPECT_EQ(ChatTemplate::from_model_dir(dir.path()).render(kHello), "jinja:</s>");
}

TEST(ChatTemplate, NamedTemplateListUsesDefault) {
  TempDir dir;
  dir.write("tokenizer_config.json",
            R"({"chat_template": [{"name": "tool_use", "template": "tools"}, {"name": "default", "template": "plain {{ add_generation_prompt }}"}]})");
  ChatRenderOptions options;
  options.add_generation_prompt = false;
  EXPECT_EQ(ChatTemplate::from_tokenizer_config(dir.path() / "tokenizer_config.json").render(kHello, options), "plain False");
  dir.write("tokenizer_config.json", R"({"chat_template": [{"name": "tool_use", "template": "tools"}]})");
  EXPECT_THROW(ChatTemplate::from_tokenizer_config(dir.path() / "tokenizer_config.json"), ember::Error);
}

TEST(ChatTemplate, ModelWithoutTemplateUsesPlainFallback) {
  TempDir dir;
  dir.write("tokenizer_config.json", R"({"bos_token": "<s>"})");
  ChatTemplate t = ChatTemplate::from_model_dir(dir.path());
  EXPECT_TRUE(t.is_fallback());
  std::vector<ChatMessage> conv = {{"system", "Be brief."}, {"user", "Hi"}};
  EXPECT_EQ(t.render(conv), "system: Be brief.\nuser: Hi\nassistant: ");
  ChatRenderOptions no_prompt;
  no_prompt.add_generation_prompt = false;
  EXPECT_EQ(t.render(conv, no_prompt), "system: Be brief.\nuser: Hi\n");
  auto parts = ember::jinja::from_json(R"([{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "image"}, {"type": "text", "text": "b"}]}])");
  EXPECT_EQ(ember::text::render_plain_chat(parts, false), "user: ab\n");
}

TEST(ChatTemplate, VariablesTransformersPasses) {
  auto t = ChatTemplate::from_source(
      "{{ tools is none }}|{{ documents is none }}|{{ add_generation_prompt }}|{{ bos_token }}|{{ unk_token is defined }}|{{ messages | length }}",
      {"<s>", "</s>", std::nullopt, std::nullopt});
  EXPECT_EQ(t.render(kHello), "True|True|True|<s>|False|1");
  ChatRenderOptions options;
  options.tools = ember::jinja::from_json(R"([{"type": "function", "function": {"name": "f"}}])");
  options.extra = ember::jinja::from_json(R"({"enable_thinking": false})");
  auto t2 = ChatTemplate::from_source("{{ tools[0].function.name }} {{ enable_thinking }}", {});
  EXPECT_EQ(t2.render(kHello, options), "f False");
}

TEST(ChatTemplate, RaiseExceptionIsADistinctError) {
  auto t = ChatTemplate::from_source("{% if messages[0].role == 'system' %}{{ raise_exception('System role not supported') }}{% endif %}ok", {});
  EXPECT_EQ(t.render(kHello), "ok");
  try {
    t.render(std::vector<ChatMessage>{{"system", "x"}});
    FAIL() << "expected TemplateRaise";
  } catch (const ember::jinja::TemplateRaise& e) {
    EXPECT_EQ(e.message(), "System role not supported");
    EXPECT_STREQ(e.what(), "System role not supported");
  }
  EXPECT_THROW(ChatTemplate::from_source("{{ messages[0].content + 1 }}", {}).render(kHello), ember::jinja::TemplateError);
}

TEST(ChatTemplate, StrftimeNowCanBePinned) {
  auto t = ChatTemplate::from_source("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%A %H:%M') }}", {});
  ChatRenderOptions options;
  options.date = "2024-07-26T09:05:00";
  EXPECT_EQ(t.render(kHello, options), "26 Jul 2024|Friday 09:05");
  ::setenv("EMBER_TEMPLATE_DATE", "2025-01-15", 1);
  EXPECT_EQ(t.render(kHello), "15 Jan 2025|Wednesday 00:00");
  ::unsetenv("EMBER_TEMPLATE_DATE");
  options.date = "15/01/2025";
  EXPECT_THROW(t.render(kHello, options), ember::Error);
}

TEST(ChatTemplate, SyntaxErrorNamesTheLine) {
  try {
    ChatTemplate::from_source("{% for m in messages %}\n{{ m.content }\n{% endfor %}", {});
    FAIL() << "expected a TemplateError";
  } catch (const ember::jinja::TemplateError& e) {
    EXPECT_EQ(e.line(), 2);
  }
}

TEST(ChatTemplate, RealQwen3ConfigRenders) {
  EMBER_REQUIRE_ASSET("tokenizers/qwen3/tokenizer_config.json");
  auto t = ChatTemplate::from_tokenizer_config(ember::test::asset("tokenizers/qwen3/tokenizer_config.json"));
  EXPECT_EQ(t.render(kHello), "<|im_start|>user\nHello!<|im_end|>\n<|im_start|>assistant\n");
  EXPECT_EQ(t.special_tokens().eos.value_or(""), "<|im_end|>");
}

}  // namespace
