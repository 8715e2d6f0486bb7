// Renders every real chat template in the shared assets with ember and with the reference
// (tools/template_reference.py: Python's jinja2 in the environment transformers uses) for a
// fixed set of conversations, and requires byte-identical output, or the same error message
// where the reference raises.
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>

#include "engine/text/chat_template.h"
#include "engine/text/jinja/builtins.h"
#include "tests/test_support.h"

namespace fs = std::filesystem;
using ember::jinja::Value;

namespace {

constexpr const char* kDate = "2025-01-15T12:00:00";

// Templates (by file name) with a construct ember does not reproduce yet; each is reported,
// not failed. Keep this empty where possible.
const std::set<std::string> kKnownGaps = {};

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Exit status of the command (0 on success), its stdout appended to *out when given.
int run(const std::string& cmd, std::string* out) {
  ember::test::CommandResult r = ember::test::run_command(cmd);
  if (out) *out += r.out;
  return r.code;
}

// The Python that has jinja2: EMBER_PYTHON, the project venv, or Debian's python3.
std::string find_python() {
  std::vector<std::string> candidates;
  if (const char* e = std::getenv("EMBER_PYTHON")) candidates.push_back(e);
  candidates.push_back(ember::test::source_dir() + "/.venv/bin/python");
  candidates.push_back("/usr/bin/python3");
  for (const auto& c : candidates) {
    if (!fs::exists(c)) continue;
    if (run(shell_quote(c) + " -c 'import jinja2' 2>/dev/null", nullptr) == 0) return c;
  }
  return "";
}

std::vector<std::string> template_sources() {
  std::vector<std::string> out;
  auto add_dir = [&](const std::string& rel, const std::string& ext) {
    fs::path dir = ember::test::asset(rel);
    if (!fs::is_directory(dir)) return;
    std::vector<std::string> found;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.path().extension() == ext) found.push_back(e.path().string());
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  };
  add_dir("templates", ".jinja");
  add_dir("templates/community/chat_templates", ".jinja");
  for (const char* base : {"tokenizers", "models"}) {
    fs::path root = ember::test::asset(base);
    if (!fs::is_directory(root)) continue;
    std::vector<std::string> found;
    for (const auto& e : fs::recursive_directory_iterator(root)) {
      if (e.path().filename() != "tokenizer_config.json") continue;
      std::ifstream f(e.path());
      std::stringstream ss;
      ss << f.rdbuf();
      if (ss.str().find("\"chat_template\"") != std::string::npos) found.push_back(e.path().string());
    }
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  return out;
}

const Value* field(const Value& d, const char* key) { return d.dict_data().find(Value(key)); }

}  // namespace

TEST(ChatTemplateReference, EveryTemplateMatchesJinja2) {
  EMBER_REQUIRE_ASSET("templates");
  std::string python = find_python();
  if (python.empty()) GTEST_SKIP() << "no Python with jinja2 (set EMBER_PYTHON or install python3-jinja2)";
  auto sources = template_sources();
  ASSERT_FALSE(sources.empty());

  std::string cmd = shell_quote(python) + " " + shell_quote(ember::test::source_dir() + "/tools/template_reference.py") +
                    " --date " + kDate;
  for (const auto& s : sources) cmd += " " + shell_quote(s);
  std::string json;
  ASSERT_EQ(run(cmd, &json), 0) << "reference tool failed: " << cmd;
  Value reference = ember::jinja::from_json(json);
  ASSERT_TRUE(reference.is_list());
  ASSERT_EQ(reference.items().size(), sources.size());

  int total = 0, matched = 0, gap_cases = 0;
  std::map<std::string, int> failures_by_template;
  for (const auto& entry : reference.items()) {
    const std::string source = field(entry, "source")->as_string();
    const std::string name = fs::path(source).filename() == "tokenizer_config.json"
                                 ? fs::path(source).parent_path().filename().string() + "/tokenizer_config.json"
                                 : fs::path(source).filename().string();
    std::optional<ember::text::ChatTemplate> tmpl;
    std::string load_error;
    try {
      if (source.size() > 5 && source.substr(source.size() - 5) == ".json") {
        tmpl = ember::text::ChatTemplate::from_tokenizer_config(source);
      } else {
        std::ifstream f(source, std::ios::binary);
        std::stringstream ss;
        ss << f.rdbuf();
        tmpl = ember::text::ChatTemplate::from_source(ss.str(), {"<s>", "</s>", std::nullopt, std::nullopt});
      }
    } catch (const ember::jinja::TemplateError& e) {
      load_error = e.message();
    }
    for (const auto& c : field(entry, "cases")->items()) {
      ++total;
      const std::string case_name = field(c, "name")->as_string() +
                                    (field(c, "add_generation_prompt")->truthy() ? "+gen" : "");
      const bool ref_ok = field(c, "ok")->truthy();
      const std::string expected = ref_ok ? field(c, "text")->as_string() : field(c, "error")->as_string();
      bool ok = false;
      std::string got;
      if (!load_error.empty()) {
        got = "error: " + load_error;
        ok = !ref_ok && load_error == expected;
      } else {
        ember::text::ChatRenderOptions options;
        options.add_generation_prompt = field(c, "add_generation_prompt")->truthy();
        options.tools = *field(c, "tools");
        options.date = kDate;
        try {
          got = tmpl->render(*field(c, "messages"), options);
          ok = ref_ok && got == expected;
        } catch (const ember::jinja::TemplateRaise& e) {
          got = "error: " + e.message();
          ok = !ref_ok && e.message() == expected;
        } catch (const ember::jinja::TemplateError& e) {
          got = "error: " + e.message() + " (" + e.what() + ")";
          ok = !ref_ok && e.message() == expected;
        }
      }
      if (ok) {
        ++matched;
        continue;
      }
      if (kKnownGaps.count(name)) {
        ++gap_cases;
        continue;
      }
      ++failures_by_template[name];
      ADD_FAILURE() << name << " [" << case_name << "]\n  expected " << (ref_ok ? "text" : "error") << ": "
                    << ::testing::PrintToString(expected) << "\n  got: " << ::testing::PrintToString(got);
    }
  }
  std::printf("chat templates: %zu templates, %d of %d renders match the reference (%d in known gaps: %zu templates)\n",
              sources.size(), matched, total, gap_cases, kKnownGaps.size());
  for (const auto& [n, count] : failures_by_template) std::printf("  mismatch: %s (%d cases)\n", n.c_str(), count);
  EXPECT_EQ(matched + gap_cases, total);
}
