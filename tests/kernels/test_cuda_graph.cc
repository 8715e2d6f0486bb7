// Decode steps replayed as CUDA graphs give the logits of the eager forward: two KV caches
// get the same prefill, then the same decode steps run eagerly on one and through
// CudaGraphRunner on the other, with batches that need padding (3 -> bucket 4), a batch that
// shrinks, and contexts that cross a context bucket. The graph pins max_ctx_len to its bucket,
// so the attention split differs from eager: fp32 activations agree to summation order (1e-4),
// bf16 to rounding compounded over the layers (2e-2, as in test_cuda_model). Skips without GPU.
#include <numeric>

#include "engine/core/error.h"
#include "engine/model/dummy_weights.h"
#include "engine/model/transformer.h"
#include "kernels/cuda_graph_runner.h"
#include "tests/kernels/gpu_test_util.h"

namespace ember {
namespace {

ModelConfig tiny_config() {
  return parse_model_config_json(R"({"architectures": ["Qwen2ForCausalLM"], "hidden_size": 128,
      "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
      "num_key_value_heads": 2, "vocab_size": 512, "max_position_embeddings": 512,
      "rms_norm_eps": 1e-6, "torch_dtype": "bfloat16"})",
                                 "config.json");
}

constexpr int kBlock = 4, kBlocksPerSeq = 24, kPadBlock = 0;

std::vector<int32_t> table_of(int seq) {
  std::vector<int32_t> t(kBlocksPerSeq);
  std::iota(t.begin(), t.end(), 1 + seq * kBlocksPerSeq);  // block 0 is the padding block
  return t;
}

StepInput decode_step(const std::vector<int>& seqs, const std::vector<int>& lens, int salt) {
  StepInput s;
  for (int q : seqs)
    s.add_sequence({int32_t((q * 37 + salt * 11) % 500)}, lens[size_t(q)], table_of(q), kBlock,
                   true);
  return s;
}

TEST(CudaGraph, ReplayMatchesEagerDecode) {
  EMBER_REQUIRE_GPU();
  for (DType act : test::activation_modes()) {
    SCOPED_TRACE(std::string(dtype_name(act)));
    const ModelConfig cfg = tiny_config();
    auto be = test::make_gpu(act);
    Transformer model(cfg, *be, make_dummy_weights(cfg, *be, {}));
    const int blocks = 1 + 4 * kBlocksPerSeq;
    KvCache kv_eager = be->alloc_kv_cache(model.kv_spec(blocks, kBlock));
    KvCache kv_graph = be->alloc_kv_cache(model.kv_spec(blocks, kBlock));

    std::vector<int> lens{9, 3, 14, 6};  // prompt lengths, then context lengths
    StepInput prefill;
    for (int q = 0; q < 4; ++q) {
      std::vector<int32_t> ids(size_t(lens[size_t(q)]));
      for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((q * 101 + int(i) * 7) % 500);
      prefill.add_sequence(ids, 0, table_of(q), kBlock, false);
    }
    std::vector<float> scratch;
    model.forward(prefill, kv_eager, scratch);
    model.forward(prefill, kv_graph, scratch);

    CudaGraphOptions o;
    o.min_ctx_blocks = 2;  // context buckets of 8, 16, 32 ... tokens: crossed below
    o.pad_block = kPadBlock;
    CudaGraphRunner runner(model, *be, kv_graph, o);
    const double tol = act == DType::F32 ? 1e-4 : 2e-2;
    const std::vector<std::vector<int>> batches{{0, 1, 2}, {0, 1, 2}, {0, 1, 2, 3}, {2},
                                                {0, 1, 2}, {0, 1, 2}, {1, 3}, {0, 1, 2}};
    for (size_t step = 0; step < batches.size(); ++step) {
      SCOPED_TRACE("step " + std::to_string(step));
      const StepInput s = decode_step(batches[step], lens, int(step));
      for (int q : batches[step]) ++lens[size_t(q)];
      ASSERT_TRUE(runner.accepts(s));
      std::vector<float> eager, graph(7, NAN);
      model.forward(s, kv_eager, eager);
      runner.decode(s, graph);
      ASSERT_EQ(graph.size(), eager.size());
      for (float x : graph) ASSERT_TRUE(std::isfinite(x));
      EXPECT_LT(test::rel_err(graph, eager), tol);
    }
    EXPECT_GT(runner.replays(), 0u);
    EXPECT_GE(runner.graphs(), 3u);  // buckets 4, 1 and 2 at least
  }
}

TEST(CudaGraph, RejectsStepsTheBackendWouldReject) {
  EMBER_REQUIRE_GPU();
  const ModelConfig cfg = tiny_config();
  auto be = test::make_gpu(DType::BF16);
  Transformer model(cfg, *be, make_dummy_weights(cfg, *be, {}));
  KvCache kv = be->alloc_kv_cache(model.kv_spec(1 + 2 * kBlocksPerSeq, kBlock));
  CudaGraphOptions o;
  o.pad_block = kPadBlock;
  CudaGraphRunner runner(model, *be, kv, o);
  std::vector<float> logits;
  StepInput bad_token = decode_step({0}, {5}, 0);
  bad_token.tokens[0] = 512;
  EXPECT_THROW(runner.decode(bad_token, logits), Error);
  StepInput pad_slot = decode_step({0}, {5}, 0);
  pad_slot.slot_mapping[0] = 1;  // inside the reserved block
  EXPECT_THROW(runner.decode(pad_slot, logits), Error);
  StepInput prefill;
  prefill.add_sequence({1, 2, 3}, 0, table_of(0), kBlock, true);
  EXPECT_FALSE(runner.accepts(prefill));
  EXPECT_THROW(runner.decode(prefill, logits), Error);
  o.pad_block = 10000;
  EXPECT_THROW(CudaGraphRunner(model, *be, kv, o), Error);
}

}  // namespace
}  // namespace ember
