#pragma once
// Random weights of a real architecture's shapes, made from a config alone (no safetensors), so
// that an 8B-class model can be benchmarked without a download (`--dummy-weights`). Values are a
// pure function of (seed, tensor, element), so every run and every machine sees the same model.
// Each tensor is generated into one host buffer, uploaded, and freed before the next: host RAM
// peaks at the largest single tensor (the embedding), never the whole model.
#include <cstdint>
#include <string>

#include "engine/model/config.h"
#include "engine/model/weights.h"

namespace ember {

struct DummyWeightOptions {
  uint64_t seed = 0;
  DType dtype = DType::BF16;  // F32, F16 or BF16
  int threads = 0;            // 0: hardware concurrency
};

// Weights with the shapes load_weights would produce for `cfg` (fused QKV and gate+up, the
// ShardPlan's share of each). Matmul weights are uniform in ±sqrt(3 / in_features) (unit-variance
// activations stay bounded through the layers), norms are 1 ± 0.05, biases ±0.02.
ModelWeights make_dummy_weights(const ModelConfig& cfg, Backend& backend,
                                const DummyWeightOptions& opts = {}, const ShardPlan& plan = {});

// Resolves a --dummy-weights argument: a path to a config.json, a folder holding one, or a name
// of bench/configs (e.g. "llama-3-8b") looked up in `configs_dir`. Throws naming what it tried.
std::string resolve_dummy_config(const std::string& arg, const std::string& configs_dir);

// resolve_dummy_config over the usual places of bench/configs: $EMBER_CONFIGS_DIR, ./bench/configs,
// and bench/configs two folders above the running binary (build-*/tools/ember).
std::string find_dummy_config(const std::string& arg);

// Parses one config.json file (no generation_config.json beside it is needed).
ModelConfig load_dummy_config(const std::string& config_json_path);

}  // namespace ember
