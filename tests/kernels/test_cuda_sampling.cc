// GPU token selection against the serve sampler (engine/sample/sampler.h) on the same logits:
// argmax ids and sampled ids must be exactly equal. Skips without a GPU.
#include <algorithm>
#include <cmath>
#include <array>
#include <bit>
#include <random>

#include "engine/core/error.h"
#include "engine/cpu/cpu_backend.h"
#include "engine/sample/logprobs.h"
#include "engine/sample/sampler.h"
#include "engine/sample/sampler_slots.h"
#include "kernels/ops.h"
#include "tests/kernels/gpu_test_util.h"

namespace ember {
namespace {

using test::put;
using test::rand_bf16;

std::vector<int32_t> get_ids(Backend& be, const Tensor& t) {
  std::vector<int32_t> v(size_t(t.numel()));
  be.download(t, v.data());
  return v;
}

Tensor poisoned_ids(Backend& be, int n) {
  std::vector<int32_t> v(size_t(n), -7);
  return be.upload(v.data(), DType::I32, {n}, false);
}

TEST(CudaSampling, ArgmaxMatchesHostWithTiesToLowestId) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  auto gpu = test::make_gpu(DType::BF16);
  for (int vocab : {512, 32000, 151936}) {
    for (int rows : {1, 5, 64}) {
      for (DType dt : {DType::F32, DType::BF16}) {
        SCOPED_TRACE("vocab=" + std::to_string(vocab) + " rows=" + std::to_string(rows));
        auto logits = rand_bf16(size_t(rows) * vocab, g, 3.f);
        std::uniform_int_distribution<int> pick(0, vocab - 1);
        for (int r = 0; r < rows; r += 2) {  // a tie for the maximum in every other row
          float* row = logits.data() + size_t(r) * vocab;
          const float mx = *std::max_element(row, row + vocab);
          const int a = pick(g), b = pick(g);
          row[a] = row[b] = mx + 1.f;
        }
        Tensor lg = put(*gpu, logits, dt, {rows, vocab});
        Tensor ids = poisoned_ids(*gpu, rows);
        gpu->argmax(lg, ids);
        const auto got = get_ids(*gpu, ids);
        for (int r = 0; r < rows; ++r)
          EXPECT_EQ(got[size_t(r)],
                    argmax(std::span<const float>(logits.data() + size_t(r) * vocab, size_t(vocab))))
              << "row " << r;
      }
    }
  }
}

TEST(CudaSampling, SampleMatchesServeSampler) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937_64 g(seed);
  auto gpu = test::make_gpu(DType::BF16);
  const float temps[] = {0.f, 0.3f, 0.7f, 1.f, 1.5f};
  const int top_ks[] = {0, 1, 5, 50};
  const float top_ps[] = {1.f, 0.9f, 0.5f};
  for (int vocab : {1000, 32000}) {
    for (int round = 0; round < 4; ++round) {
      const int rows = 48;
      std::mt19937 gf{uint32_t(g())};
      auto logits = rand_bf16(size_t(rows) * vocab, gf, 2.f);
      std::vector<GpuSamplingParams> params(static_cast<size_t>(rows));
      for (auto& p : params) {
        p.temperature = temps[g() % 5];
        p.top_k = top_ks[g() % 4];
        p.top_p = top_ps[g() % 3];
        p.seed = g();
        p.step = g() % 40;
        p.index = uint32_t(g() % 3);
      }
      for (DType dt : {DType::F32, DType::BF16}) {
        Tensor lg = put(*gpu, logits, dt, {rows, vocab});
        Tensor ids = poisoned_ids(*gpu, rows);
        gpu->sample(lg, params, ids);
        const auto got = get_ids(*gpu, ids);
        for (int r = 0; r < rows; ++r) {
          const auto& p = params[size_t(r)];
          SamplingParams sp;
          sp.temperature = p.temperature;
          sp.top_k = p.top_k;
          sp.top_p = p.top_p;
          std::vector<float> row(logits.begin() + size_t(r) * vocab,
                                 logits.begin() + size_t(r + 1) * vocab);
          const std::vector<int32_t> output(size_t(p.step), 0);  // step = tokens generated
          const int32_t want = sample_next(sp, p.seed, p.index, row, {}, output);
          EXPECT_EQ(got[size_t(r)], want)
              << "vocab=" << vocab << " row " << r << " T=" << p.temperature
              << " top_k=" << p.top_k << " top_p=" << p.top_p;
        }
      }
    }
  }
}

TEST(CudaSampling, DrawDependsOnlyOnSeedAndStep) {
  EMBER_REQUIRE_GPU();
  auto gpu = test::make_gpu(DType::BF16);
  std::mt19937 g(test::fresh_seed());
  const int vocab = 4096;
  auto row = rand_bf16(size_t(vocab), g);
  // The same row and parameters at batch positions 0 and 5 of a batch of otherwise
  // different rows: the same id.
  auto batch = rand_bf16(size_t(8) * vocab, g);
  std::copy(row.begin(), row.end(), batch.begin());
  std::copy(row.begin(), row.end(), batch.begin() + 5 * vocab);
  std::vector<GpuSamplingParams> params(8);
  for (size_t i = 0; i < params.size(); ++i) params[i] = {1.f, 0, 0.95f, 100 + i, 3, 0};
  params[5] = params[0];
  Tensor lg = put(*gpu, batch, DType::F32, {8, vocab});
  Tensor ids = poisoned_ids(*gpu, 8);
  gpu->sample(lg, params, ids);
  const auto got = get_ids(*gpu, ids);
  EXPECT_EQ(got[0], got[5]);
  // Draws over many steps cover more than one id of a flat distribution.
  std::vector<float> flat(size_t(vocab), 0.f);
  std::vector<GpuSamplingParams> steps(32);
  for (size_t i = 0; i < steps.size(); ++i) steps[i] = {1.f, 0, 1.f, 42, i, 0};
  std::vector<float> rows32;
  for (int i = 0; i < 32; ++i) rows32.insert(rows32.end(), flat.begin(), flat.end());
  Tensor lf = put(*gpu, rows32, DType::F32, {32, vocab});
  Tensor ids32 = poisoned_ids(*gpu, 32);
  gpu->sample(lf, steps, ids32);
  auto s = get_ids(*gpu, ids32);
  std::sort(s.begin(), s.end());
  EXPECT_GT(std::unique(s.begin(), s.end()) - s.begin(), 20);
}

// The serving op (Backend::sample with slots): the GPU's draws equal the CPU backend's on the
// same logits, in three steps: one the sampling kernel covers alone (temperature, top_k, top_p,
// raw logprobs), one with edits (penalties from the slots' counts, a logit bias, an active
// min_tokens mask; applied on the device by apply_logit_edits) and two rows sharing a logit
// row, and one the host must do (min_p: the download fallback). Both leave the same histories.
TEST(CudaSampling, SampleOpMatchesTheCpuBackendsOp) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937_64 g(seed);
  auto gpu = test::make_gpu(DType::BF16);
  auto cpu = make_cpu_backend(2);
  const int vocab = 151936, rows = 24;
  std::mt19937 gf{uint32_t(g())};
  const auto logits = rand_bf16(size_t(rows) * vocab, gf, 2.f);
  const std::vector<int32_t> mask = {int32_t(g() % vocab), int32_t(g() % vocab)};
  for (int kind = 0; kind < 3; ++kind) {
    const char* const kinds[] = {"kernel", "edits", "host fallback"};
    SCOPED_TRACE(kinds[kind]);
    std::vector<SamplingParams> params(static_cast<size_t>(rows));
    std::vector<RowSampling> plan(static_cast<size_t>(rows));
    SamplerSlots gpu_slots, cpu_slots;
    for (int r = 0; r < rows; ++r) {
      SamplingParams& p = params[size_t(r)];
      p.temperature = std::array<float, 3>{0.f, 0.7f, 1.f}[g() % 3];
      p.top_k = std::array<int, 3>{0, 5, 50}[g() % 3];
      p.top_p = std::array<float, 3>{1.f, 0.9f, 0.5f}[g() % 3];
      if (r % 3 == 0) p.logprobs = 10;  // raw: on the device too
      SlotInit init{r, {}, 4};
      for (int t = 0; t < 4 + int(g() % 12); ++t) init.tokens.push_back(int32_t(g() % 64));
      if (kind == 1) {
        if (r % 2 == 0) p.repetition_penalty = 1.3f;
        if (r % 3 == 1) p.presence_penalty = 0.5f, p.frequency_penalty = 0.7f;
        if (r % 4 == 2) p.logit_bias = {{init.tokens[0], 4.f}, {int32_t(g() % vocab), -2.f}};
        if (r % 5 == 3) p.min_tokens = 100;  // the mask is active
      }
      if (kind == 2 && r % 2 == 0) p.min_p = 0.05f;
      gpu_slots.init(init);
      cpu_slots.init(init);
      plan[size_t(r)] = RowSampling{r, r, &p, g(), uint32_t(g() % 3), mask};
      // Shares row 0, as n > 1 completions share their prompt's (a gathered copy on the device).
      if (kind >= 1 && r == rows - 1) plan[size_t(r)].logit_row = 0;
    }
    Tensor lg_gpu = put(*gpu, logits, DType::F32, {rows, vocab});
    Tensor lg_cpu = cpu->upload(logits.data(), DType::F32, {rows, vocab}, false);
    std::vector<SampledRow> got(static_cast<size_t>(rows)), want(static_cast<size_t>(rows));
    gpu->sample(lg_gpu, plan, gpu_slots, got);
    cpu->sample(lg_cpu, plan, cpu_slots, want);
    for (int r = 0; r < rows; ++r) {
      EXPECT_EQ(got[size_t(r)].id, want[size_t(r)].id) << "row " << r;
      ASSERT_EQ(got[size_t(r)].logprobs.has_value(), want[size_t(r)].logprobs.has_value());
      if (want[size_t(r)].logprobs) {
        const auto& a = *got[size_t(r)].logprobs;
        const auto& b = *want[size_t(r)].logprobs;
        EXPECT_NEAR(a.logprob, b.logprob, 1e-5) << "row " << r;
        ASSERT_EQ(a.top.size(), b.top.size()) << "row " << r;
        for (size_t j = 0; j < a.top.size(); ++j) {
          EXPECT_EQ(a.top[j].first, b.top[j].first) << "row " << r << " entry " << j;
          EXPECT_NEAR(a.top[j].second, b.top[j].second, 1e-5) << "row " << r << " entry " << j;
        }
      }
      EXPECT_EQ(gpu_slots.last(r), cpu_slots.last(r)) << "row " << r;
    }
    // The draws are on the device's copy: the model's logits are left as they were.
    std::vector<float> back(logits.size());
    gpu->download(lg_gpu, back.data());
    EXPECT_EQ(back, logits);
  }
}

// apply_logit_edits against the host's transforms, bit for bit: a row edited by the kernel
// equals the same row after the min_tokens mask, apply_logit_bias and apply_penalties.
TEST(CudaSampling, LogitEditsMatchTheHostTransformsBitForBit) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  auto gpu = test::make_gpu(DType::BF16);
  const int vocab = 5000;
  auto row = rand_bf16(size_t(vocab), g, 3.f);
  SamplingParams p;
  p.repetition_penalty = 1.25f;
  p.presence_penalty = 0.3f;
  p.frequency_penalty = 0.45f;
  p.logit_bias = {{7, 2.5f}, {9, -1.f}};
  const std::vector<int32_t> prompt = {7, 8, 9, 10, 7}, output = {9, 9, 11, 12, 9, 8};
  std::vector<float> want = row;
  want[3] = -INFINITY;  // masked
  apply_logit_bias(want, p.logit_bias);
  apply_penalties(want, p, prompt, output);
  std::vector<cuda::LogitEdit> edits = {{3, cuda::kEditMask, 0.f, 0},
                                        {7, cuda::kEditBias | cuda::kEditSeen, 2.5f, 0},
                                        {8, cuda::kEditSeen, 0.f, 1},
                                        {9, cuda::kEditBias | cuda::kEditSeen, -1.f, 3},
                                        {10, cuda::kEditSeen, 0.f, 0},
                                        {11, cuda::kEditSeen, 0.f, 1},
                                        {12, cuda::kEditSeen, 0.f, 1}};
  const std::vector<int32_t> offsets = {0, int32_t(edits.size())};
  const cuda::RowPenalties pen{p.repetition_penalty, p.presence_penalty, p.frequency_penalty};
  Tensor lg = put(*gpu, row, DType::F32, {1, vocab});
  Tensor ed = gpu->upload(edits.data(), DType::U8, {int64_t(edits.size() * sizeof(cuda::LogitEdit))}, false);
  Tensor off = gpu->upload(offsets.data(), DType::I32, {2}, false);
  Tensor pe = gpu->upload(&pen, DType::U8, {int64_t(sizeof pen)}, false);
  cuda::apply_logit_edits(lg.as<float>(), 1, vocab, off.as<int32_t>(),
                          static_cast<const cuda::LogitEdit*>(ed.data),
                          static_cast<const cuda::RowPenalties*>(pe.data),
                          static_cast<cudaStream_t>(gpu->stream_handle()));
  std::vector<float> got(static_cast<size_t>(vocab));
  gpu->download(lg, got.data());
  for (int i = 0; i < vocab; ++i)
    ASSERT_EQ(std::bit_cast<uint32_t>(got[size_t(i)]), std::bit_cast<uint32_t>(want[size_t(i)]))
        << "id " << i << ": " << got[size_t(i)] << " vs " << want[size_t(i)];
}

// The logprobs kernel against RowLogprobs (engine/sample/logprobs.h) on the same rows: the same
// top ids in the same order (ties from bf16 rounding, NaN left out, -inf kept, a fully masked
// row), logprobs within 1e-5 (the normaliser's exps differ by ulps between the devices).
TEST(CudaSampling, TopLogprobsMatchRowLogprobs) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  auto gpu = test::make_gpu(DType::BF16);
  for (int vocab : {7, 1000, 151936}) {
    const int rows = 6;
    auto logits = rand_bf16(size_t(rows) * vocab, g, 4.f);
    std::uniform_int_distribution<int> pick(0, vocab - 1);
    for (int j = 0; j < 3; ++j) {
      logits[size_t(pick(g))] = NAN;                      // row 0
      logits[size_t(vocab) + pick(g)] = -INFINITY;        // row 1
    }
    std::fill(logits.begin() + 2 * vocab, logits.begin() + 3 * vocab, -INFINITY);  // row 2
    std::vector<int32_t> ids(static_cast<size_t>(rows));
    for (auto& id : ids) id = pick(g);
    for (int k : {0, 1, 5, 20}) {
      SCOPED_TRACE("vocab " + std::to_string(vocab) + ", k " + std::to_string(k));
      Tensor lg = put(*gpu, logits, DType::F32, {rows, vocab});
      Tensor id_t = gpu->upload(ids.data(), DType::I32, {rows}, false);
      Tensor chosen = gpu->alloc(DType::F32, {rows});
      Tensor top_ids = gpu->alloc(DType::I32, {rows, std::max(k, 1)});
      Tensor top_lp = gpu->alloc(DType::F32, {rows, std::max(k, 1)});
      cuda::top_logprobs(lg.as<float>(), rows, vocab, id_t.as<int32_t>(), k, chosen.as<float>(),
                         top_ids.as<int32_t>(), top_lp.as<float>(),
                         static_cast<cudaStream_t>(gpu->stream_handle()));
      std::vector<float> c(static_cast<size_t>(rows)), tl(size_t(rows) * std::max(k, 1));
      std::vector<int32_t> ti(size_t(rows) * std::max(k, 1));
      gpu->download(chosen, c.data());
      gpu->download(top_ids, ti.data());
      gpu->download(top_lp, tl.data());
      for (int r = 0; r < rows; ++r) {
        const RowLogprobs want(std::span<const float>(logits.data() + size_t(r) * vocab, size_t(vocab)));
        const float wc = want.at(ids[size_t(r)]);
        if (std::isinf(wc))
          EXPECT_EQ(c[size_t(r)], wc) << "row " << r;
        else
          EXPECT_NEAR(c[size_t(r)], wc, 1e-5) << "row " << r;
        const auto top = want.top(k);
        for (int j = 0; j < k; ++j) {
          const size_t at = size_t(r) * k + j;
          if (size_t(j) >= top.size()) {
            EXPECT_EQ(ti[at], -1) << "row " << r << " entry " << j;
            continue;
          }
          EXPECT_EQ(ti[at], top[size_t(j)].first) << "row " << r << " entry " << j;
          if (std::isinf(top[size_t(j)].second))
            EXPECT_EQ(tl[at], top[size_t(j)].second);
          else
            EXPECT_NEAR(tl[at], top[size_t(j)].second, 1e-5) << "row " << r << " entry " << j;
        }
      }
    }
  }
}

}  // namespace
}  // namespace ember
