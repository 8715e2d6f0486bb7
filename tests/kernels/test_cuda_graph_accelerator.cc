// The CUDA graph accelerator behind a TransformerRunner (what `ember --cuda-graphs on` runs):
// decode-only steps replay graphs and agree with an eager runner on the same weights (same
// bounds as test_cuda_graph: the graph pins the attention split to its context bucket), other
// steps stay eager, the buckets stop at the scheduler's largest batch, and a whole engine run
// goes through it. Skips without a GPU.
#include <unistd.h>

#include <filesystem>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/random_model.h"
#include "engine/serve/engine.h"
#include "engine/serve/transformer_runner.h"
#include "kernels/cuda_graph_accelerator.h"
#include "tests/kernels/gpu_test_util.h"
#include "tests/temp_model.h"

namespace ember {
namespace {

constexpr int kBlock = 4;

class CudaGraphAcceleratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    // The shapes of the CUDA model tests (head dim 32, vocab 512).
    RandomModelOptions o = test::tiny_model_options(3);
    o.hidden = 128;
    o.intermediate = 256;
    o.vocab = 512;
    dir_ = test::write_temp_model("ember_cuda_accel", o);
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  static std::shared_ptr<TransformerRunner> runner(DType act, bool graphs, int max_num_seqs) {
    RunnerOptions ro;
    ro.block_size = kBlock;
    ro.kv.gib = 0.25;
    ro.max_useful_tokens = 64 * kBlock;
    if (graphs) {
      CudaGraphOptions o;
      o.min_ctx_blocks = 2;  // small context buckets, crossed by the steps below
      ro.accelerator = cuda_graph_accelerator(o);
      ro.max_batched_tokens = 64;
      ro.max_num_seqs = max_num_seqs;
    }
    return TransformerRunner::open(dir_, test::make_gpu(act), ro);
  }
  static inline std::string dir_;
};

// Prefill of five sequences, then decode steps of 3, 3, 5 and 2 of them.
std::vector<std::vector<float>> run_steps(TransformerRunner& r) {
  auto table = [](int q) { return std::vector<int32_t>{4 * q, 4 * q + 1, 4 * q + 2, 4 * q + 3}; };
  std::vector<int> lens{5, 2, 7, 3, 6};
  std::vector<std::vector<float>> out;
  StepInput prefill;
  for (int q = 0; q < 5; ++q) {
    std::vector<int32_t> ids(size_t(lens[size_t(q)]));
    for (size_t i = 0; i < ids.size(); ++i) ids[i] = int32_t((q * 97 + int(i) * 13) % 500);
    prefill.add_sequence(ids, 0, table(q), kBlock, true);
  }
  out.emplace_back();
  r.forward(prefill, out.back());
  const std::vector<std::vector<int>> batches{{0, 1, 2}, {0, 1, 2}, {0, 1, 2, 3, 4}, {1, 3}};
  for (size_t step = 0; step < batches.size(); ++step) {
    StepInput s;
    for (int q : batches[step])
      s.add_sequence({int32_t((q * 31 + int(step) * 7) % 500)}, lens[size_t(q)]++, table(q),
                     kBlock, true);
    out.emplace_back();
    r.forward(s, out.back());
  }
  return out;
}

TEST_F(CudaGraphAcceleratorTest, DecodeStepsReplayAndMatchTheEagerRunner) {
  EMBER_REQUIRE_GPU();
  for (DType act : test::activation_modes()) {
    SCOPED_TRACE(std::string(dtype_name(act)));
    auto eager = runner(act, false, 0);
    auto graphs = runner(act, true, 4);  // buckets 1, 2, 4: the 5-sequence step stays eager
    ASSERT_TRUE(graphs->accelerated());
    EXPECT_EQ(graphs->num_kv_blocks(), eager->num_kv_blocks());
    const auto want = run_steps(*eager), got = run_steps(*graphs);
    EXPECT_EQ(graphs->accelerated_steps(), 3);
    EXPECT_EQ(graphs->eager_steps(), 2);
    const double tol = act == DType::F32 ? 1e-4 : 2e-2;
    ASSERT_EQ(got.size(), want.size());
    for (size_t i = 0; i < got.size(); ++i)
      EXPECT_LT(test::rel_err(got[i], want[i]), tol) << "step " << i;
  }
}

TEST_F(CudaGraphAcceleratorTest, AnEngineRunGoesThroughTheGraphs) {
  EMBER_REQUIRE_GPU();
  auto r = runner(DType::BF16, true, 8);
  {
    EngineConfig cfg;
    cfg.max_num_seqs = 8;
    cfg.max_batched_tokens = 64;
    Engine engine(r, cfg);
    std::vector<RequestHandle> hs;
    for (int i = 0; i < 6; ++i) {
      ChatRequest q;
      for (int t = 0; t < 5 + i; ++t) q.prompt_ids.push_back(int32_t((i * 41 + t * 3) % 500));
      q.sampling.temperature = 0;
      q.sampling.max_tokens = 12;
      q.sampling.ignore_eos = true;
      hs.push_back(engine.submit(q));
    }
    for (auto& h : hs) {
      const auto res = h.wait();
      ASSERT_EQ(res.completions.size(), 1u);
      EXPECT_EQ(res.completions[0].tokens.size(), 12u);
      EXPECT_EQ(res.completions[0].reason, FinishReason::Length);
    }
    EXPECT_EQ(engine.wait_idle().kv_blocks_in_use, 0);
  }
  EXPECT_GT(r->accelerated_steps(), 0);
}

// Runs without a GPU: the factory checks the backend before it touches the model or cache.
TEST_F(CudaGraphAcceleratorTest, RefusesAnotherBackend) {
  RunnerOptions ro;
  ro.block_size = kBlock;
  ro.kv.gib = 0.01;
  ro.accelerator = cuda_graph_accelerator();
  EXPECT_THROW(TransformerRunner::open(dir_, make_cpu_backend(1), ro), Error);
}

}  // namespace
}  // namespace ember
