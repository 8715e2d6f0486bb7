#include "tools/ember/served_names.h"

#include <filesystem>

#include <simdjson.h>

namespace ember::cli {
namespace {

// "org/name": one slash, neither part empty, no path syntax. A bare name ("gpt2") could as well
// be a folder transformers was given, so it does not count.
bool looks_like_hub_id(std::string_view s) {
  const size_t slash = s.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == s.size()) return false;
  if (s.find('/', slash + 1) != std::string_view::npos) return false;
  if (s[0] == '.' || s[0] == '~' || s.find('\\') != std::string_view::npos) return false;
  for (char c : s)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '-' || c == '_' || c == '.'))
      return false;
  return true;
}

}  // namespace

std::string recorded_hf_id(const std::string& model_dir) {
  const std::filesystem::path file = std::filesystem::path(model_dir) / "config.json";
  simdjson::padded_string json;
  if (simdjson::padded_string::load(file.string()).get(json) != simdjson::SUCCESS) return {};
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (parser.parse(json).get(root) != simdjson::SUCCESS) return {};
  std::string_view id;
  if (root["_name_or_path"].get_string().get(id) != simdjson::SUCCESS) return {};
  return looks_like_hub_id(id) ? std::string(id) : std::string();
}

std::vector<std::string> default_served_names(const std::string& model_dir, const std::string& folder_name) {
  std::vector<std::string> names = {folder_name};
  const std::string id = recorded_hf_id(model_dir);
  if (!id.empty() && id != folder_name) names.push_back(id);
  return names;
}

}  // namespace ember::cli
