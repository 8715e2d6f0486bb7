// The TransformerRunner's StepAccelerator seam, on the CPU with a fake accelerator that
// accepts decode-only steps and runs them through the eager Transformer (as the CUDA graph one
// does through its graphs): accepted steps go through it and no others, it gets one KV block
// that the scheduler never sees, the activation buffers never move once the runner is open,
// and the seam passes data through untouched (bit-identical logits and tokens).
#include <unistd.h>

#include <filesystem>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/random_model.h"
#include "engine/model/transformer.h"
#include "engine/serve/engine.h"
#include "engine/serve/transformer_runner.h"
#include "tests/serve/gated_runner.h"
#include "tests/serve/serve_test_util.h"
#include "tests/temp_model.h"

namespace ember {
namespace {

constexpr int kBlock = 4;

// What the fake saw; shared with the test because the runner owns the accelerator.
struct Log {
  int created = 0, pad_block = -1, cache_blocks = 0, max_num_seqs = 0, max_batched_tokens = 0;
  int64_t steps = 0;
  uint64_t generation_at_open = 0;
  bool buffers_moved = false, touched_pad = false, saw_non_decode = false;
};

class DecodeOnly : public StepAccelerator {
 public:
  DecodeOnly(const StepAcceleratorContext& c, std::shared_ptr<Log> log)
      : model_(c.model), kv_(c.kv), log_(std::move(log)) {}
  bool accepts(const StepInput& s) const override {
    if (s.seqs.empty() || s.num_tokens() != int(s.seqs.size())) return false;
    for (const SeqStep& q : s.seqs)
      if (q.q_len != 1) return false;
    return true;
  }
  void forward(const StepInput& s, std::vector<float>& logits) override {
    ++log_->steps;
    if (!accepts(s)) log_->saw_non_decode = true;
    for (int32_t slot : s.slot_mapping)
      if (slot / kBlock == log_->pad_block) log_->touched_pad = true;
    for (const SeqStep& q : s.seqs)
      for (int b = 0; b < (q.ctx_len + kBlock - 1) / kBlock; ++b)
        if (q.block_table[size_t(b)] == log_->pad_block) log_->touched_pad = true;
    model_.forward(s, kv_, logits);
    if (model_.scratch_generation() != log_->generation_at_open) log_->buffers_moved = true;
  }

 private:
  Transformer& model_;
  KvCache& kv_;
  std::shared_ptr<Log> log_;
};

StepAcceleratorFactory fake_factory(std::shared_ptr<Log> log) {
  return [log](const StepAcceleratorContext& c) -> std::unique_ptr<StepAccelerator> {
    ++log->created;
    log->pad_block = c.pad_block;
    log->cache_blocks = c.kv.spec.num_blocks;
    log->max_num_seqs = c.max_num_seqs;
    log->max_batched_tokens = c.max_batched_tokens;
    log->generation_at_open = c.model.scratch_generation();
    return std::make_unique<DecodeOnly>(c, log);
  };
}

class StepAcceleratorTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = test::write_temp_model("ember_step_accel", test::tiny_model_options(11));
  }
  static void TearDownTestSuite() { std::filesystem::remove_all(dir_); }

  // kv_blocks usable blocks; with `log`, the fake accelerator and the scheduler limits of cfg.
  static std::shared_ptr<TransformerRunner> runner(int kv_blocks, std::shared_ptr<Log> log,
                                                   const EngineConfig& cfg = {}) {
    RunnerOptions ro;
    ro.block_size = kBlock;
    ro.kv.gib = 1.0;
    ro.max_useful_tokens = int64_t(kv_blocks) * kBlock;
    if (log) {
      ro.accelerator = fake_factory(log);
      ro.limits_from(cfg);
    }
    return TransformerRunner::open(dir_, make_cpu_backend(2), ro);
  }

  static std::vector<ChatRequest> requests(int n) { return test::seeded_requests(n, 256, 7); }

  static std::vector<std::vector<int32_t>> run(std::shared_ptr<TransformerRunner> r,
                                               const std::vector<ChatRequest>& reqs,
                                               const EngineConfig& cfg, EngineStats* stats) {
    // Every request is queued before the first step, so the batch (and any preemption) does
    // not depend on how fast this thread submits.
    auto gate = std::make_shared<test::GatedRunner>(std::move(r));
    Engine engine(gate, cfg);
    std::vector<RequestHandle> hs;
    for (const auto& q : reqs) hs.push_back(engine.submit(q));
    gate->open();
    std::vector<std::vector<int32_t>> out;
    for (auto& h : hs) out.push_back(h.wait().completions.at(0).tokens);
    *stats = engine.wait_idle();
    return out;
  }

  static inline std::string dir_;
};

TEST_F(StepAcceleratorTest, DecodeStepsGoThroughItAndOthersRunEagerly) {
  auto log = std::make_shared<Log>();
  auto r = runner(64, log);
  ASSERT_TRUE(r->accelerated());
  std::vector<float> logits;
  StepInput prefill;
  prefill.add_sequence(test::make_prompt(6, 1, 256), 0, {0, 1}, kBlock, true);
  r->forward(prefill, logits);
  EXPECT_EQ(r->eager_steps(), 1);
  EXPECT_EQ(r->accelerated_steps(), 0);

  StepInput decode;
  decode.add_sequence({5}, 6, {0, 1}, kBlock, true);
  r->forward(decode, logits);
  EXPECT_EQ(r->accelerated_steps(), 1);
  EXPECT_EQ(log->steps, 1);

  StepInput mixed;  // a decode next to a prefill chunk: not a decode-only step
  mixed.add_sequence({9}, 7, {0, 1}, kBlock, true);
  mixed.add_sequence(test::make_prompt(3, 2, 256), 0, {2}, kBlock, true);
  r->forward(mixed, logits);
  EXPECT_EQ(r->eager_steps(), 2);
  EXPECT_EQ(r->accelerated_steps(), 1);
  EXPECT_EQ(logits.size(), 2u * size_t(r->vocab_size()));
}

TEST_F(StepAcceleratorTest, ReservesOneBlockTheSchedulerNeverSees) {
  auto plain = runner(24, nullptr);
  auto log = std::make_shared<Log>();
  auto r = runner(24, log);
  EXPECT_EQ(plain->num_kv_blocks(), 24);
  EXPECT_EQ(r->num_kv_blocks(), 24);
  EXPECT_EQ(log->created, 1);
  EXPECT_EQ(log->cache_blocks, 25);
  EXPECT_EQ(log->pad_block, 24);  // the last id: the scheduler's ids are the same either way
  EXPECT_EQ(r->kv_bytes(), plain->kv_bytes() / 24 * 25);
  const std::vector<BlockCopy> into_pad{{0, 24}}, from_pad{{24, 0}};
  EXPECT_THROW(r->copy_blocks(into_pad), Error);
  EXPECT_THROW(r->copy_blocks(from_pad), Error);

  // A cache too small for every request at once: preemption and reuse of every usable block,
  // and still no step reads or writes the pad block.
  EngineConfig cfg;
  cfg.max_batched_tokens = 16;
  EngineStats st;
  run(r, requests(12), cfg, &st);
  EXPECT_GT(st.preemptions, 0);
  EXPECT_EQ(st.kv_blocks_total, 24);
  EXPECT_GT(log->steps, 0);
  EXPECT_FALSE(log->touched_pad);
}

TEST_F(StepAcceleratorTest, ActivationBuffersAreSizedOnceFromTheSchedulerLimits) {
  EngineConfig cfg;
  cfg.max_batched_tokens = 20;
  cfg.max_num_seqs = 6;
  auto log = std::make_shared<Log>();
  auto r = runner(64, log, cfg);
  EXPECT_EQ(log->max_batched_tokens, 20);
  EXPECT_EQ(log->max_num_seqs, 6);
  EngineStats st;
  run(r, requests(10), cfg, &st);
  EXPECT_GT(r->eager_steps(), 0);
  EXPECT_GT(log->steps, 0);
  EXPECT_FALSE(log->buffers_moved);
}

TEST_F(StepAcceleratorTest, LogitsAndTokensThroughTheSeamAreIdentical) {
  auto plain = runner(64, nullptr);
  auto log = std::make_shared<Log>();
  auto accel = runner(64, log);
  auto steps = [](TransformerRunner& r) {
    std::vector<std::vector<float>> out(3);
    StepInput prefill;
    prefill.add_sequence(test::make_prompt(9, 3, 256), 0, {0, 1, 2}, kBlock, true);
    prefill.add_sequence(test::make_prompt(5, 4, 256), 0, {3, 4}, kBlock, true);
    r.forward(prefill, out[0]);
    StepInput d1, d2;
    d1.add_sequence({17}, 9, {0, 1, 2}, kBlock, true);
    d1.add_sequence({23}, 5, {3, 4}, kBlock, true);
    r.forward(d1, out[1]);
    d2.add_sequence({29}, 6, {3, 4}, kBlock, true);
    d2.add_sequence({31}, 10, {0, 1, 2}, kBlock, true);
    r.forward(d2, out[2]);
    return out;
  };
  const auto a = steps(*plain), b = steps(*accel);
  EXPECT_EQ(accel->accelerated_steps(), 2);
  EXPECT_EQ(log->steps, 2);
  ASSERT_EQ(a[2].size(), 2u * size_t(plain->vocab_size()));
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i;

  EngineConfig cfg;
  cfg.max_batched_tokens = 24;
  EngineStats s1, s2;
  const auto reqs = requests(8);
  const auto want = run(runner(64, nullptr), reqs, cfg, &s1);
  auto r = runner(64, log, cfg);
  const auto got = run(r, reqs, cfg, &s2);
  EXPECT_GT(r->accelerated_steps(), 0);
  EXPECT_EQ(got, want);
}

TEST_F(StepAcceleratorTest, AFactoryThatDeclinesLeavesEveryStepEager) {
  RunnerOptions ro;
  ro.block_size = kBlock;
  ro.kv.gib = 1.0;
  ro.max_useful_tokens = 16 * kBlock;
  ro.accelerator = [](const StepAcceleratorContext&) { return std::unique_ptr<StepAccelerator>(); };
  auto r = TransformerRunner::open(dir_, make_cpu_backend(2), ro);
  EXPECT_FALSE(r->accelerated());
  EXPECT_EQ(r->num_kv_blocks(), 16);
  StepInput decode;
  decode.add_sequence({5}, 0, {0}, kBlock, true);
  std::vector<float> logits;
  r->forward(decode, logits);
  EXPECT_EQ(r->eager_steps(), 1);
}

}  // namespace
}  // namespace ember
