// --dummy-weights: random weights of a real architecture from its config alone. The forward pass
// over them gives finite logits, the same ones on every load (the values are a function of the
// seed), different ones for another seed; the committed bench configs parse.
#include <cmath>
#include <filesystem>
#include <numeric>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/dummy_weights.h"
#include "engine/model/transformer.h"

namespace ember {
namespace {

ModelConfig small_config(bool qwen) {
  const char* json = qwen ? R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 64,
      "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 2, "vocab_size": 300, "max_position_embeddings": 256,
      "rms_norm_eps": 1e-6, "torch_dtype": "float32"})"
                          : R"({"architectures": ["LlamaForCausalLM"], "hidden_size": 64,
      "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 2, "vocab_size": 300, "max_position_embeddings": 256,
      "rms_norm_eps": 1e-5, "torch_dtype": "float32"})";
  return parse_model_config_json(json, "config.json");
}

std::vector<float> logits_of(const ModelConfig& cfg, uint64_t seed, DType dtype) {
  auto be = make_cpu_backend(2);
  DummyWeightOptions o;
  o.seed = seed;
  o.dtype = dtype;
  o.threads = 3;  // several threads must give the same bytes as one
  Transformer t(cfg, *be, make_dummy_weights(cfg, *be, o));
  KvCache kv = be->alloc_kv_cache(t.kv_spec(8, 8));
  StepInput s;
  std::vector<int32_t> table(8);
  std::iota(table.begin(), table.end(), 0);
  s.add_sequence({1, 17, 250, 42, 7}, 0, table, 8, true);
  std::vector<float> logits;
  t.forward(s, kv, logits);
  return logits;
}

TEST(DummyWeights, ForwardGivesFiniteDeterministicLogits) {
  for (bool qwen : {false, true}) {
    const ModelConfig cfg = small_config(qwen);
    for (DType dt : {DType::F32, DType::BF16}) {
      const std::vector<float> a = logits_of(cfg, 7, dt), b = logits_of(cfg, 7, dt);
      ASSERT_EQ(a.size(), size_t(cfg.vocab_size));
      for (float x : a) ASSERT_TRUE(std::isfinite(x));
      EXPECT_EQ(a, b);
      // Not degenerate: the logits spread, and another seed is another model.
      const auto [lo, hi] = std::minmax_element(a.begin(), a.end());
      EXPECT_GT(*hi - *lo, 1e-3f);
      EXPECT_NE(a, logits_of(cfg, 8, dt));
    }
  }
}

TEST(DummyWeights, ShapesMatchTheConfigAndTheShard) {
  ModelConfig cfg = small_config(true);
  auto be = make_cpu_backend(1);
  ShardPlan plan;
  plan.world = 2;
  plan.rank = 1;
  ModelWeights w = make_dummy_weights(cfg, *be, {}, plan);
  ASSERT_EQ(int(w.layers.size()), cfg.num_layers);
  const int64_t D = cfg.head_dim;
  EXPECT_EQ(w.layers[0].qkv.shape, (Shape{(2 + 2 * 1) * D, 64}));
  ASSERT_TRUE(w.layers[0].qkv_bias);
  EXPECT_EQ(w.layers[0].qkv_bias->shape, (Shape{4 * D}));
  EXPECT_EQ(w.layers[0].o_proj.shape, (Shape{64, 2 * D}));
  EXPECT_EQ(w.layers[0].gate_up.shape, (Shape{96, 64}));
  EXPECT_EQ(w.layers[0].down.shape, (Shape{64, 48}));
  EXPECT_EQ(w.embed.shape, (Shape{150, 64}));  // rank 1's half of the vocabulary
  EXPECT_EQ(w.inv_freq.numel(), D / 2);
  plan.world = 3;
  plan.rank = 0;
  EXPECT_THROW(make_dummy_weights(cfg, *be, {}, plan), Error);
}

TEST(DummyWeights, BenchConfigsParseWithTheirShapes) {
  const std::string dir = std::string(EMBER_SOURCE_DIR) + "/bench/configs";
  const ModelConfig l8 = load_dummy_config(resolve_dummy_config("llama-3-8b", dir));
  EXPECT_EQ(l8.hidden_size, 4096);
  EXPECT_EQ(l8.num_kv_heads, 8);
  EXPECT_EQ(l8.vocab_size, 128256);
  const ModelConfig q = load_dummy_config(resolve_dummy_config("qwen2.5-7b", dir));
  EXPECT_TRUE(q.qkv_bias);
  EXPECT_EQ(q.head_dim, 128);
  EXPECT_EQ(load_dummy_config(resolve_dummy_config("mistral-7b", dir)).vocab_size, 32768);
  EXPECT_EQ(load_dummy_config(resolve_dummy_config("llama-3-70b", dir)).num_layers, 80);
  EXPECT_THROW(resolve_dummy_config("no-such-model", dir), Error);
}

}  // namespace
}  // namespace ember
