// The forward pass on random models of every architecture (write_random_model): reusing the
// activation buffers across steps of different sizes changes nothing, and bad wiring is an error.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numeric>

#include <gtest/gtest.h>
#include <unistd.h>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/model/generate.h"
#include "engine/model/random_model.h"

namespace ember {
namespace {

namespace fs = std::filesystem;

class RandomModelDir {
 public:
  explicit RandomModelDir(const RandomModelOptions& o) {
    dir_ = fs::temp_directory_path() /
           ("ember-transformer-test-" + std::to_string(getpid()) + "-" +
            std::string(arch_hf_name(o.arch)) + std::to_string(int(o.dtype)));
    write_random_model(o, dir_.string());
  }
  ~RandomModelDir() { fs::remove_all(dir_); }
  std::string path() const { return dir_.string(); }

 private:
  fs::path dir_;
};

std::vector<float> run(Transformer& t, KvCache& kv, const std::vector<int32_t>& ids, int pos) {
  StepInput s;
  std::vector<int32_t> table(16);
  std::iota(table.begin(), table.end(), 0);
  s.add_sequence(ids, pos, table, 8, false);
  s.logit_rows.resize(ids.size());
  std::iota(s.logit_rows.begin(), s.logit_rows.end(), 0);
  std::vector<float> logits;
  t.forward(s, kv, logits);
  return logits;
}

std::vector<int32_t> ids_of(int n, int salt) {
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) v[size_t(i)] = (i * 31 + salt) % 250;
  return v;
}

TEST(Transformer, ScratchReuseAcrossStepSizesKeepsResults) {
  for (Arch arch :
       {Arch::Llama, Arch::Qwen2, Arch::Qwen3, Arch::Phi3, Arch::Gemma2, Arch::Gemma3}) {
    RandomModelOptions o;
    o.arch = arch;
    o.seed = 5;
    RandomModelDir dir(o);
    auto be = make_cpu_backend(2);
    LoadedModel shared = load_model(dir.path(), *be);
    for (int n : {20, 3, 50, 1, 20}) {
      // A fresh model (fresh buffers) versus the one that has seen other step sizes.
      LoadedModel fresh = load_model(dir.path(), *be);
      KvCache a = be->alloc_kv_cache(shared.model->kv_spec(16, 8));
      KvCache b = be->alloc_kv_cache(fresh.model->kv_spec(16, 8));
      const auto ids = ids_of(n, n);
      const auto got = run(*shared.model, a, ids, 0);
      const auto want = run(*fresh.model, b, ids, 0);
      ASSERT_EQ(got, want) << arch_hf_name(arch) << " n=" << n;
      for (float v : got) ASSERT_TRUE(std::isfinite(v));
    }
  }
}

TEST(Transformer, StepWithoutLogitRowsReturnsNoLogitsButFillsTheCache) {
  RandomModelOptions o;
  RandomModelDir dir(o);
  auto be = make_cpu_backend(1);
  LoadedModel m = load_model(dir.path(), *be);
  KvCache kv = be->alloc_kv_cache(m.model->kv_spec(16, 8));
  StepInput s;
  std::vector<int32_t> table(16);
  std::iota(table.begin(), table.end(), 0);
  s.add_sequence(ids_of(9, 1), 0, table, 8, false);
  std::vector<float> logits{1.f};
  m.model->forward(s, kv, logits);
  EXPECT_TRUE(logits.empty());
  // The next token attends to the 9 cached ones: same logits as a 10-token prefill's last row.
  const auto step = run(*m.model, kv, {7}, 9);
  KvCache kv2 = be->alloc_kv_cache(m.model->kv_spec(16, 8));
  auto all = ids_of(9, 1);
  all.push_back(7);
  const auto full = run(*m.model, kv2, all, 0);
  const size_t V = size_t(m.cfg.vocab_size);
  for (size_t i = 0; i < V; ++i) EXPECT_NEAR(step[i], full[9 * V + i], 1e-5);
}

// A step whose rows do not all want logits (prompt chunks) runs the last layer past its KV store
// on the logit rows alone. The logits must be bit for bit those of the same step with every
// row's logits wanted (which runs every row through), and so must the cache the next step reads.
TEST(Transformer, LastLayerOnLogitRowsOnlyGivesTheWholeStepsLogits) {
  for (Arch arch : {Arch::Llama, Arch::Mistral, Arch::Qwen2, Arch::Qwen3, Arch::Phi3,
                    Arch::Gemma2, Arch::Gemma3}) {
    SCOPED_TRACE(arch_hf_name(arch));
    RandomModelOptions o;
    o.arch = arch;
    o.seed = 6;
    RandomModelDir dir(o);
    for (int threads : {1, 2}) {
      auto be = make_cpu_backend(threads);
      LoadedModel m = load_model(dir.path(), *be);
      const size_t V = size_t(m.cfg.vocab_size);
      KvCache pruned = be->alloc_kv_cache(m.model->kv_spec(32, 8));
      KvCache whole = be->alloc_kv_cache(m.model->kv_spec(32, 8));
      // Three sequences: a prompt's first chunk (no logits), a whole prompt, and a later chunk
      // of a prompt with logits asked for a row in its middle as well as its last.
      std::vector<int32_t> t0(8), t1(8), t2(8);
      std::iota(t0.begin(), t0.end(), 0);
      std::iota(t1.begin(), t1.end(), 8);
      std::iota(t2.begin(), t2.end(), 16);
      const auto first = ids_of(13, 1), prompt = ids_of(21, 2), chunk = ids_of(9, 3);
      StepInput warm;  // the third sequence's earlier chunk, already in both caches
      warm.add_sequence(ids_of(6, 4), 0, t2, 8, false);
      std::vector<float> none;
      m.model->forward(warm, pruned, none);
      m.model->forward(warm, whole, none);
      StepInput step;
      step.add_sequence(first, 0, t0, 8, false);
      step.add_sequence(prompt, 0, t1, 8, true);
      step.add_sequence(chunk, 6, t2, 8, true);
      step.logit_rows.insert(step.logit_rows.begin() + 1, 13 + 21 + 4);
      std::vector<float> got, all;
      m.model->forward(step, pruned, got);
      StepInput every = step;
      every.logit_rows.resize(size_t(every.num_tokens()));
      std::iota(every.logit_rows.begin(), every.logit_rows.end(), 0);
      m.model->forward(every, whole, all);
      ASSERT_EQ(got.size(), step.logit_rows.size() * V);
      for (size_t i = 0; i < step.logit_rows.size(); ++i) {
        const size_t r = size_t(step.logit_rows[i]);
        const std::vector<float> want(all.begin() + r * V, all.begin() + (r + 1) * V);
        const std::vector<float> row(got.begin() + i * V, got.begin() + (i + 1) * V);
        ASSERT_EQ(row, want) << "threads=" << threads << " row " << r;
      }
      // The next tokens read every layer's cache: the same logits from both.
      StepInput next;
      next.add_sequence({5}, 13, t0, 8, true);
      next.add_sequence({6}, 21, t1, 8, true);
      m.model->forward(next, pruned, got);
      m.model->forward(next, whole, all);
      ASSERT_EQ(got, all) << "threads=" << threads;
    }
  }
}

// A BF16 cache rounds each stored K and V (relative error <= 2^-9); through the layers that moves
// the logits by a small fraction of their spread (3e-4 on this model; the bound is 2e-3), and no
// further. Not zero: the cache really is BF16.
TEST(Transformer, Bf16KvCacheStaysCloseToF32) {
  RandomModelOptions o;
  o.seed = 8;
  RandomModelDir dir(o);
  auto be = make_cpu_backend(2);
  LoadedModel m = load_model(dir.path(), *be);
  KvCache f32 = be->alloc_kv_cache(m.model->kv_spec(16, 8));
  KvCache bf16 = be->alloc_kv_cache(m.model->kv_spec(16, 8, DType::BF16));
  ASSERT_EQ(bf16.k[0].dtype, DType::BF16);
  const auto prompt = ids_of(40, 3);
  for (int step = 0; step < 2; ++step) {
    const std::vector<int32_t> ids = step == 0 ? prompt : std::vector<int32_t>{11};
    const int pos = step == 0 ? 0 : int(prompt.size());
    const auto want = run(*m.model, f32, ids, pos), got = run(*m.model, bf16, ids, pos);
    ASSERT_EQ(got.size(), want.size());
    const auto [lo, hi] = std::minmax_element(want.begin(), want.end());
    double worst = 0;
    for (size_t i = 0; i < want.size(); ++i)
      worst = std::max(worst, double(std::abs(got[i] - want[i])));
    EXPECT_GT(worst, 0.0) << "step " << step;
    EXPECT_LT(worst, 2e-3 * (*hi - *lo)) << "step " << step;
  }
}

TEST(Transformer, RejectsWeightsThatDoNotMatchTheConfig) {
  RandomModelOptions o;
  RandomModelDir dir(o);
  auto be = make_cpu_backend(1);
  LoadedModel m = load_model(dir.path(), *be);
  ModelConfig cfg = m.cfg;
  cfg.num_layers += 1;
  ModelWeights w = load_weights(m.cfg, m.files, *be);
  EXPECT_THROW(Transformer t(cfg, *be, std::move(w)), Error);
}

}  // namespace
}  // namespace ember
