#include "tools/ember/demo_model.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "engine/core/error.h"
#include "engine/model/random_model.h"
#include "tools/ember/model_names.h"

namespace ember::cli {

namespace {

namespace fs = std::filesystem;

// Bumped whenever the options below change, so an old cached copy is rewritten.
constexpr const char* kStamp = "ember-demo-model v1 llama h128 l2 v512 seed 20260101\n";
constexpr const char* kStampFile = "ember-demo.stamp";

RandomModelOptions demo_options() {
  RandomModelOptions o;
  o.arch = Arch::Llama;
  o.hidden = 128;
  o.layers = 2;
  o.heads = 4;
  o.kv_heads = 2;
  o.intermediate = 256;
  o.vocab = 512;
  o.seed = 20260101;
  return o;
}

bool is_complete(const fs::path& dir) {
  std::ifstream in(dir / kStampFile);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  if (ss.str() != kStamp) return false;
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"})
    if (!fs::is_regular_file(dir / f)) return false;
  return true;
}

}  // namespace

std::string demo_model_cache_dir() {
  try {
    return (fs::path(ember_cache_root()) / "demo-model").string();
  } catch (const Error& e) {
    fail("demo model: {}; pass --model DIR", e.what());
  }
}

std::string ensure_demo_model() {
  const fs::path dir = demo_model_cache_dir();
  if (is_complete(dir)) return dir.string();
  std::error_code ec;
  fs::create_directories(dir.parent_path(), ec);
  if (ec) fail("demo model: cannot create {}: {}", dir.parent_path().string(), ec.message());
  const fs::path tmp = dir.parent_path() / ("demo-model.tmp-" + std::to_string(::getpid()));
  fs::remove_all(tmp, ec);
  write_random_model(demo_options(), tmp.string());
  {
    std::ofstream out(tmp / kStampFile);
    out << kStamp;
    if (!out) fail("demo model: cannot write {}", (tmp / kStampFile).string());
  }
  fs::remove_all(dir, ec);
  fs::rename(tmp, dir, ec);
  if (ec) {
    // Another process may have won the race; its copy is as good as ours.
    fs::remove_all(tmp);
    if (!is_complete(dir)) fail("demo model: cannot move {} to {}: {}", tmp.string(), dir.string(), ec.message());
  }
  return dir.string();
}

}  // namespace ember::cli
