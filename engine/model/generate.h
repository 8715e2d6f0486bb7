#pragma once
// A single-sequence generation loop (prefill, then one token per step) on any backend: what
// `ember generate` and the model tests use until the serving engine's scheduler exists.
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "engine/model/safetensors.h"
#include "engine/model/transformer.h"

namespace ember {

// A model directory loaded onto a backend. The mapped files stay open for as long as the
// weights may alias them.
struct LoadedModel {
  ModelConfig cfg;
  WeightFiles files;
  std::unique_ptr<Transformer> model;
};
// `progress` hears of mapped bytes and checked tensors as loading goes.
LoadedModel load_model(const std::string& dir, Backend& backend, const ProgressFn& progress = {});

struct GenerateOptions {
  int max_tokens = 256;
  float temperature = 0.f;      // 0: greedy (argmax, lowest id on ties)
  uint64_t seed = 0;            // the sampling stream when temperature > 0
  std::vector<int> stop_ids;    // generation ends after emitting one of these
  int block_size = 16;
};

struct GenerateResult {
  std::vector<int32_t> ids;  // generated ids, including the stop id that ended it
  enum class Finish { Stop, Length, Cancelled } finish = Finish::Length;
};

// on_token is called with each id as it is produced; returning false ends generation
// (Finish::Cancelled). Generation also ends at the model's max_position_embeddings.
GenerateResult generate(Transformer& model, const std::vector<int32_t>& prompt,
                        const GenerateOptions& opts,
                        const std::function<bool(int32_t)>& on_token = {});

int32_t argmax_id(const float* logits, int n);
// Samples from softmax(logits / temperature) with the given stream.
int32_t sample_id(const float* logits, int n, float temperature, std::mt19937_64& rng);

}  // namespace ember
