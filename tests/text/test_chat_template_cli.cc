// `ember template`: prints the rendered prompt exactly; a template that raises exits non-zero
// with its message.
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "tests/test_support.h"

namespace fs = std::filesystem;

namespace {

using Result = ember::test::CommandResult;

Result run(const std::string& args) { return ember::test::run_ember(args); }

class TemplateCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("ember_template_cli_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    std::ofstream(dir_ / "t.jinja") << "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}"
                                       "{% if add_generation_prompt %}[assistant]{% endif %}{{ eos_token }}\n";
    std::ofstream(dir_ / "raise.jinja") << "{{ raise_exception('roles must alternate') }}";
    std::ofstream(dir_ / "m.json") << R"([{"role": "user", "content": "hi \u00e9"}, {"role": "assistant", "content": [{"type": "text", "text": "x"}]}])";
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string p(const char* name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

TEST_F(TemplateCli, PrintsThePromptExactly) {
  Result r = run("template --template " + p("t.jinja") + " --eos '</s>' --messages " + p("m.json") + " --add-generation-prompt");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "[user]hi \xC3\xA9[assistant][{'type': 'text', 'text': 'x'}][assistant]</s>");
  r = run("template --template " + p("t.jinja") + " --messages " + p("m.json"));
  EXPECT_EQ(r.out, "[user]hi \xC3\xA9[assistant][{'type': 'text', 'text': 'x'}]");
}

TEST_F(TemplateCli, RaisingTemplateExitsNonZeroWithItsMessage) {
  Result r = run("template --template " + p("raise.jinja") + " --messages " + p("m.json"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("roles must alternate"), std::string::npos) << r.out;
}

TEST_F(TemplateCli, NeedsExactlyOneTemplateSource) {
  Result r = run("template --messages " + p("m.json"));
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.out.find("exactly one of"), std::string::npos) << r.out;
}

TEST_F(TemplateCli, ModelFolder) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer_config.json");
  Result r = run("template --model " + ember::test::asset("tokenizers/llama3") + " --messages " + p("m.json"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.rfind("<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nhi \xC3\xA9<|eot_id|>", 0), 0u) << r.out;
}

TEST_F(TemplateCli, TokenizerConfigFile) {
  // The template and its special tokens both come from the config (eos_token as an AddedToken
  // object, bos_token as a plain string).
  std::ofstream(dir_ / "tokenizer_config.json") << R"({
    "bos_token": "<s>",
    "eos_token": {"content": "</s>", "lstrip": false, "normalized": false, "rstrip": false, "single_word": false},
    "chat_template": "{{ bos_token }}{% for m in messages %}<{{ m.role }}>{{ m.content }}{{ eos_token }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}"
  })";
  std::ofstream(dir_ / "plain.json") << R"([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])";
  Result r = run("template --tokenizer-config " + p("tokenizer_config.json") + " --messages " + p("plain.json"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "<s><user>hi</s><assistant>yo</s>");
  r = run("template --tokenizer-config " + p("tokenizer_config.json") + " --messages " + p("plain.json") +
          " --add-generation-prompt");
  EXPECT_EQ(r.out, "<s><user>hi</s><assistant>yo</s><assistant>");
  // A config without a chat_template is an error, not a silent fallback.
  std::ofstream(dir_ / "no_template.json") << R"({"bos_token": "<s>"})";
  r = run("template --tokenizer-config " + p("no_template.json") + " --messages " + p("plain.json"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("no chat_template"), std::string::npos) << r.out;
}

TEST_F(TemplateCli, TokenizerConfigOfARealModelMatchesItsFolder) {
  EMBER_REQUIRE_ASSET("tokenizers/llama3/tokenizer_config.json");
  const std::string args = " --messages " + p("m.json") + " --add-generation-prompt --date 2025-01-15";
  Result dir = run("template --model " + ember::test::asset("tokenizers/llama3") + args);
  Result file = run("template --tokenizer-config " + ember::test::asset("tokenizers/llama3/tokenizer_config.json") + args);
  EXPECT_EQ(file.code, 0) << file.out;
  EXPECT_EQ(file.out.rfind("<|begin_of_text|>", 0), 0u) << file.out;
  EXPECT_EQ(file.out, dir.out);
}

TEST_F(TemplateCli, BosAndEosForATemplateFile) {
  std::ofstream(dir_ / "bos.jinja") << "{{ bos_token }}{% for m in messages %}{{ m.content }}{% endfor %}|{{ eos_token }}";
  Result r = run("template --template " + p("bos.jinja") + " --bos '<|bos|>' --eos '<|eos|>' --messages " + p("m.json"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "<|bos|>hi \xC3\xA9[{'type': 'text', 'text': 'x'}]|<|eos|>");
  // Without --bos the variable is undefined, which prints as nothing.
  r = run("template --template " + p("bos.jinja") + " --messages " + p("m.json"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "hi \xC3\xA9[{'type': 'text', 'text': 'x'}]|");
  // An empty --bos is a defined, empty bos_token.
  std::ofstream(dir_ / "defined.jinja") << "{% if bos_token is defined %}defined{% else %}undefined{% endif %}";
  r = run("template --template " + p("defined.jinja") + " --bos '' --messages " + p("m.json"));
  EXPECT_EQ(r.out, "defined");
  r = run("template --template " + p("defined.jinja") + " --messages " + p("m.json"));
  EXPECT_EQ(r.out, "undefined");
}

TEST_F(TemplateCli, BosAndEosOnlyApplyToATemplateFile) {
  std::ofstream(dir_ / "tokenizer_config.json") << R"({"chat_template": "{{ bos_token }}"})";
  Result r = run("template --tokenizer-config " + p("tokenizer_config.json") + " --bos '<s>' --messages " + p("m.json"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--bos and --eos apply only to --template"), std::string::npos) << r.out;
  r = run("template --model " + dir_.string() + " --eos '</s>' --messages " + p("m.json"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find("--bos and --eos apply only to --template"), std::string::npos) << r.out;
}

// Gemma refuses a system message with raise_exception, as transformers would raise.
TEST_F(TemplateCli, GemmaRefusesASystemMessage) {
  EMBER_REQUIRE_ASSET("templates/google-gemma-2-2b-it.jinja");
  const std::string tmpl = ember::test::asset("templates/google-gemma-2-2b-it.jinja");
  std::ofstream(dir_ / "system.json") << R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}])";
  Result r = run("template --template " + tmpl + " --bos '<bos>' --messages " + p("system.json"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_EQ(r.out, "ember: error: System role not supported\n");
  // Without the system message it renders.
  std::ofstream(dir_ / "user.json") << R"([{"role": "user", "content": "hi"}])";
  r = run("template --template " + tmpl + " --bos '<bos>' --messages " + p("user.json") + " --add-generation-prompt");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "<bos><start_of_turn>user\nhi<end_of_turn>\n<start_of_turn>model\n");
}

// A folder without any chat template gets the documented plain fallback (render_plain_chat):
// "role: content\n" per message, list contents by their text parts, then "assistant: ".
TEST_F(TemplateCli, ModelFolderWithoutATemplateUsesThePlainFallback) {
  const fs::path model = dir_ / "base-model";
  fs::create_directories(model);
  std::ofstream(model / "tokenizer_config.json") << R"({"bos_token": "<s>", "eos_token": "</s>"})";
  Result r = run("template --model " + model.string() + " --messages " + p("m.json"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "user: hi \xC3\xA9\nassistant: x\n");
  r = run("template --model " + model.string() + " --messages " + p("m.json") + " --add-generation-prompt");
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "user: hi \xC3\xA9\nassistant: x\nassistant: ");
  // A folder with no files at all: the same fallback.
  const fs::path empty = dir_ / "empty-model";
  fs::create_directories(empty);
  r = run("template --model " + empty.string() + " --messages " + p("m.json"));
  EXPECT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out, "user: hi \xC3\xA9\nassistant: x\n");
}

// A mistyped --model path is an error, not a plain-fallback prompt.
TEST_F(TemplateCli, ModelThatIsNotAFolderIsAnError) {
  const std::string missing = (dir_ / "no-such-model").string();
  Result r = run("template --model " + missing + " --messages " + p("m.json"));
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.out.find(missing), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("no such folder"), std::string::npos) << r.out;
}

}  // namespace
