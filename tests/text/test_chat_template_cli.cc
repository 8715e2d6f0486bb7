// `ember template`: prints the rendered prompt exactly; a template that raises exits non-zero
// with its message.
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

}  // namespace
