#include "tools/ember/serve_config.h"

#include <fmt/format.h>

#include <toml++/toml.h>

#include "engine/core/error.h"

namespace ember::cli {

namespace {

std::string scalar_text(const toml::node& n, const std::string& file, const std::string& key) {
  if (auto s = n.value_exact<std::string>()) return *s;
  if (auto i = n.value_exact<int64_t>()) return std::to_string(*i);
  if (auto d = n.value_exact<double>()) return fmt::format("{}", *d);
  if (auto b = n.value_exact<bool>()) return *b ? "true" : "false";
  fail("{}: {}: expected a string, number or boolean", file, key);
}

void apply_table(CLI::App& cmd, const toml::table& t, const std::string& prefix, const std::string& file) {
  for (const auto& [k, node] : t) {
    const std::string key = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const toml::table* sub = node.as_table()) {
      apply_table(cmd, *sub, key, file);
      continue;
    }
    CLI::Option* opt = key == "config" || key == "help" ? nullptr : cmd.get_option_no_throw("--" + key);
    if (!opt) fail("{}: unknown key '{}' (keys are the flags of `ember serve --help` without the dashes)", file, key);
    if (opt->count() > 0) continue;  // the command line wins
    const std::string value = scalar_text(node, file, key);
    try {
      opt->clear();
      opt->add_result(value);
      opt->run_callback();
    } catch (const CLI::Error& e) {
      fail("{}: {} = {}: {}", file, key, value, e.what());
    }
  }
}

}  // namespace

void apply_toml_config(CLI::App& cmd, const std::string& file) {
  toml::table t;
  try {
    t = toml::parse_file(file);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    fail("{}:{}:{}: {}", file, b.line, b.column, e.description());
  }
  apply_table(cmd, t, "", file);
}

}  // namespace ember::cli
