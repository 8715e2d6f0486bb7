#pragma once
// A random model written once per test suite into a per-process temp folder.
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "engine/model/random_model.h"

namespace ember::test {

// A tiny Llama with GQA (hidden 64, 2 layers, 4 query / 2 KV heads, vocab 300): fast on the CPU.
inline RandomModelOptions tiny_model_options(uint64_t seed) {
  RandomModelOptions o;
  o.hidden = 64;
  o.layers = 2;
  o.heads = 4;
  o.kv_heads = 2;
  o.intermediate = 128;
  o.vocab = 300;
  o.seed = seed;
  return o;
}

// Writes `o` to TMP/<tag>_<pid> and returns that folder (the suite removes it).
inline std::string write_temp_model(const std::string& tag, const RandomModelOptions& o) {
  const std::string dir =
      (std::filesystem::temp_directory_path() / (tag + "_" + std::to_string(::getpid()))).string();
  write_random_model(o, dir);
  return dir;
}

}  // namespace ember::test
