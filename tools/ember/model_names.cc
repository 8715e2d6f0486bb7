#include "tools/ember/model_names.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <vector>

#include "engine/core/error.h"

namespace ember::cli {

namespace fs = std::filesystem;

namespace {

// The names tools/fetch-models.sh knows, for the error that tells how to get one.
constexpr const char* kFetchable =
    "qwen2.5-0.5b, qwen2.5-1.5b, gemma3-270m, all-minilm-l6-v2, all-mpnet-base-v2";

std::vector<std::string> fetched_names() {
  std::vector<std::string> names;
  std::error_code ec;
  const fs::path dir = fetched_models_dir();
  if (!fs::is_directory(dir, ec)) return names;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (fs::is_regular_file(e.path() / "config.json", ec)) names.push_back(e.path().filename());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::string ember_cache_root() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return (fs::path(x) / "ember").string();
  const char* home = std::getenv("HOME");
  if (!home || !*home) fail("neither XDG_CACHE_HOME nor HOME is set, so ember has no cache folder");
  return (fs::path(home) / ".cache" / "ember").string();
}

std::string fetched_models_dir() { return (fs::path(ember_cache_root()) / "models").string(); }

std::string resolve_model_arg(const std::string& arg) {
  std::error_code ec;
  if (arg.empty() || fs::exists(arg, ec)) return arg;
  // A bare name may be a fetched model; anything with a slash is a path.
  if (arg.find('/') != std::string::npos) fail("--model {}: no such folder", arg);
  const fs::path cached = fs::path(fetched_models_dir()) / arg;
  if (fs::is_regular_file(cached / "config.json", ec)) return cached.string();
  std::string have;
  for (const auto& n : fetched_names()) have += (have.empty() ? "" : ", ") + n;
  fail("--model {}: no such folder, and no fetched model of that name in {} (fetched: {}); "
       "tools/fetch-models.sh NAME fetches one of: {}",
       arg, fetched_models_dir(), have.empty() ? "none" : have, kFetchable);
}

}  // namespace ember::cli
