// Every CUDA op against the CPU reference backend on fresh random inputs of several shapes,
// in both activation modes (fp32 and bf16), with the GPU output poisoned (NaN) before the run.
// Bound: ||gpu - ref|| / ||ref|| <= 1e-3, where ref is the fp32 CPU result, rounded once to
// bf16 when the GPU output is bf16 (inputs are bf16-representable, so both backends see the
// same numbers; the GPU computes in fp32 and rounds once at the store). Skips without a GPU.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "engine/core/error.h"
#include "tests/kernels/gpu_test_util.h"

namespace ember {
namespace {

using test::get;
using test::kOpTol;
using test::poisoned;
using test::put;
using test::rand_bf16;
using test::rel_err;

struct Backends {
  std::unique_ptr<Backend> cpu = make_cpu_backend(0);
  std::unique_ptr<CudaBackend> gpu;
  DType act;
  explicit Backends(DType a) : gpu(test::make_gpu(a)), act(a) {}
};

std::string mode(DType act) { return std::string("act=") + std::string(dtype_name(act)); }

TEST(CudaOps, Embed) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  for (DType act : test::activation_modes()) {
    Backends b(act);
    for (DType table_dt : {DType::F32, DType::BF16, DType::F16}) {
      for (int H : {64, 1000, 2048}) {
        SCOPED_TRACE(mode(act) + " table=" + std::string(dtype_name(table_dt)) + " H=" +
                     std::to_string(H));
        const int V = 777;
        auto table = rand_bf16(size_t(V) * H, g);
        if (table_dt == DType::F16) table = test::round_bf16(table);  // exact in f16 too
        std::vector<int32_t> ids(19);
        std::uniform_int_distribution<int> pick(0, V - 1);
        for (auto& t : ids) t = pick(g);
        ids[0] = V - 1;
        StepInput in;
        in.add_sequence(ids, 0, {0, 1}, 16, true);
        Tensor tc = put(*b.cpu, table, table_dt, {V, H}), tg = put(*b.gpu, table, table_dt, {V, H});
        StepTensors sc = b.cpu->upload_step(in), sg = b.gpu->upload_step(in);
        Tensor oc = b.cpu->alloc(DType::F32, {19, H});
        Tensor og = poisoned(*b.gpu, act, {19, H});
        b.cpu->embed(tc, sc, oc);
        b.gpu->embed(tg, sg, og);
        EXPECT_LE(rel_err(get(*b.gpu, og), test::expected_as(get(*b.cpu, oc), act)), kOpTol);
      }
    }
  }
}

TEST(CudaOps, EmbedRejectsTokenOutsideVocab) {
  EMBER_REQUIRE_GPU();
  Backends b(DType::BF16);
  std::mt19937 g(1);
  Tensor t = put(*b.gpu, rand_bf16(10 * 8, g), DType::BF16, {10, 8});
  StepInput in;
  in.add_sequence({3, 10}, 0, {0}, 16, true);
  StepTensors st = b.gpu->upload_step(in);
  Tensor out = b.gpu->alloc(DType::BF16, {2, 8});
  EXPECT_THROW(b.gpu->embed(t, st, out), Error);
}

TEST(CudaOps, RmsNormAndAddRmsNorm) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  for (DType act : test::activation_modes()) {
    Backends b(act);
    for (DType w_dt : {DType::F32, DType::BF16}) {
      for (auto [rows, cols] : {std::pair{1, 64}, {7, 1000}, {33, 4096}, {5, 5120}}) {
        SCOPED_TRACE(mode(act) + " w=" + std::string(dtype_name(w_dt)) + " " +
                     std::to_string(rows) + "x" + std::to_string(cols));
        const float eps = 1e-5f;
        auto x = rand_bf16(size_t(rows) * cols, g, 2.f);
        auto res = rand_bf16(size_t(rows) * cols, g, 2.f);
        auto w = rand_bf16(size_t(cols), g);
        const Shape sh{rows, cols};
        Tensor wc = put(*b.cpu, w, w_dt, {cols}), wg = put(*b.gpu, w, w_dt, {cols});
        // rmsnorm
        Tensor xc = put(*b.cpu, x, DType::F32, sh), xg = put(*b.gpu, x, act, sh);
        Tensor oc = b.cpu->alloc(DType::F32, sh), og = poisoned(*b.gpu, act, sh);
        b.cpu->rmsnorm(xc, wc, eps, oc);
        b.gpu->rmsnorm(xg, wg, eps, og);
        EXPECT_LE(rel_err(get(*b.gpu, og), test::expected_as(get(*b.cpu, oc), act)), kOpTol);
        // add_rmsnorm: the GPU stores the residual in `act` and normalises the stored value,
        // so the reference for `out` is the CPU rmsnorm of the rounded residual.
        Tensor rc = put(*b.cpu, res, DType::F32, sh), rg = put(*b.gpu, res, act, sh);
        Tensor oc2 = b.cpu->alloc(DType::F32, sh), og2 = poisoned(*b.gpu, act, sh);
        b.cpu->add_rmsnorm(rc, xc, wc, eps, oc2);
        b.gpu->add_rmsnorm(rg, xg, wg, eps, og2);
        const auto res_ref = test::expected_as(get(*b.cpu, rc), act);
        EXPECT_LE(rel_err(get(*b.gpu, rg), res_ref), kOpTol);
        Tensor rr = put(*b.cpu, res_ref, DType::F32, sh), oc3 = b.cpu->alloc(DType::F32, sh);
        b.cpu->rmsnorm(rr, wc, eps, oc3);
        EXPECT_LE(rel_err(get(*b.gpu, og2), test::expected_as(get(*b.cpu, oc3), act)), kOpTol);
      }
    }
  }
}

TEST(CudaOps, Matmul) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  struct Mnk {
    int M, N, K;
  };
  for (DType act : test::activation_modes()) {
    Backends b(act);
    for (Mnk s : {Mnk{1, 64, 64}, Mnk{7, 300, 200}, Mnk{33, 1024, 512}, Mnk{128, 2048, 1024},
                  Mnk{5, 517, 96}}) {
      for (DType w_dt : {DType::BF16, DType::F32}) {
        for (bool with_bias : {false, true}) {
          for (DType out_dt : {act, DType::F32}) {
            SCOPED_TRACE(mode(act) + " M=" + std::to_string(s.M) + " N=" + std::to_string(s.N) +
                         " K=" + std::to_string(s.K) + " w=" + std::string(dtype_name(w_dt)) +
                         (with_bias ? " bias" : "") + " out=" + std::string(dtype_name(out_dt)));
            auto x = rand_bf16(size_t(s.M) * s.K, g);
            auto w = rand_bf16(size_t(s.N) * s.K, g, 0.05f);
            auto bias = rand_bf16(size_t(s.N), g);
            Tensor xc = put(*b.cpu, x, DType::F32, {s.M, s.K}), xg = put(*b.gpu, x, act, {s.M, s.K});
            Tensor wc = put(*b.cpu, w, w_dt, {s.N, s.K}), wg = put(*b.gpu, w, w_dt, {s.N, s.K});
            Tensor bc = put(*b.cpu, bias, DType::BF16, {s.N});
            Tensor bg = put(*b.gpu, bias, DType::BF16, {s.N});
            Tensor oc = b.cpu->alloc(DType::F32, {s.M, s.N});
            Tensor og = poisoned(*b.gpu, out_dt, {s.M, s.N});
            b.cpu->matmul(xc, wc, with_bias ? &bc : nullptr, oc);
            b.gpu->matmul(xg, wg, with_bias ? &bg : nullptr, og);
            EXPECT_LE(rel_err(get(*b.gpu, og), test::expected_as(get(*b.cpu, oc), out_dt)), kOpTol);
          }
        }
      }
    }
  }
}

// The gated MLP halves (SwiGLU's silu_mul, Gemma's gelu_tanh_mul), Gemma's embedding scale and
// final logit soft-cap, and gather_rows.
TEST(CudaOps, GatedMulScaleSoftcapAndGatherRows) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  for (DType act : test::activation_modes()) {
    Backends b(act);
    for (auto [T, I] : {std::pair{1, 100}, {9, 1376}, {64, 3000}}) {
      SCOPED_TRACE(mode(act) + " T=" + std::to_string(T) + " I=" + std::to_string(I));
      auto gu = rand_bf16(size_t(T) * 2 * I, g, 3.f);
      Tensor gc = put(*b.cpu, gu, DType::F32, {T, 2 * I}), gg = put(*b.gpu, gu, act, {T, 2 * I});
      for (bool gelu : {false, true}) {
        Tensor oc = b.cpu->alloc(DType::F32, {T, I}), og = poisoned(*b.gpu, act, {T, I});
        if (gelu) {
          b.cpu->gelu_tanh_mul(gc, oc);
          b.gpu->gelu_tanh_mul(gg, og);
        } else {
          b.cpu->silu_mul(gc, oc);
          b.gpu->silu_mul(gg, og);
        }
        EXPECT_LE(rel_err(get(*b.gpu, og), test::expected_as(get(*b.cpu, oc), act)), kOpTol)
            << (gelu ? "gelu_tanh_mul" : "silu_mul");
      }
      b.cpu->scale(gc, 25.29822f);
      b.gpu->scale(gg, 25.29822f);
      EXPECT_LE(rel_err(get(*b.gpu, gg), test::expected_as(get(*b.cpu, gc), act)), kOpTol);
    }
    auto logits = rand_bf16(size_t(3) * 5000, g, 80.f);
    Tensor lc = put(*b.cpu, logits, DType::F32, {3, 5000});
    Tensor lg = put(*b.gpu, logits, DType::F32, {3, 5000});
    b.cpu->softcap(lc, 30.f);
    b.gpu->softcap(lg, 30.f);
    EXPECT_LE(rel_err(get(*b.gpu, lg), get(*b.cpu, lc)), kOpTol);
    // gather_rows: the last token of each of three sequences, and a middle one.
    StepInput in;
    in.add_sequence({1, 2, 3, 4, 5}, 0, {0}, 16, true);
    in.add_sequence({6}, 9, {1}, 16, true);
    in.add_sequence({7, 8, 9}, 0, {2}, 16, true);
    in.logit_rows.push_back(2);
    const int T = in.num_tokens(), H = 96, R = int(in.logit_rows.size());
    auto x = rand_bf16(size_t(T) * H, g);
    StepTensors sc = b.cpu->upload_step(in), sg = b.gpu->upload_step(in);
    Tensor xc = put(*b.cpu, x, DType::F32, {T, H}), xg = put(*b.gpu, x, act, {T, H});
    Tensor oc = b.cpu->alloc(DType::F32, {R, H}), og = poisoned(*b.gpu, act, {R, H});
    b.cpu->gather_rows(xc, sc, oc);
    b.gpu->gather_rows(xg, sg, og);
    EXPECT_EQ(get(*b.gpu, og), get(*b.cpu, oc)) << mode(act);
  }
}

TEST(CudaOps, QkRmsNorm) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  for (DType act : test::activation_modes()) {
    Backends b(act);
    for (AttnShape a : {AttnShape{8, 2, 64, 0.125f, 0}, AttnShape{16, 4, 128, 0.088f, 0},
                        AttnShape{4, 4, 256, 0.0625f, 0}}) {
      SCOPED_TRACE(mode(act) + " heads=" + std::to_string(a.n_heads) + "/" +
                   std::to_string(a.n_kv_heads) + " D=" + std::to_string(a.head_dim));
      const int T = 7, W = (a.n_heads + 2 * a.n_kv_heads) * a.head_dim;
      auto qkv = rand_bf16(size_t(T) * W, g, 3.f);
      auto qw = rand_bf16(size_t(a.head_dim), g), kw = rand_bf16(size_t(a.head_dim), g);
      Tensor qc = put(*b.cpu, qkv, DType::F32, {T, W}), qg = put(*b.gpu, qkv, act, {T, W});
      Tensor qwc = put(*b.cpu, qw, DType::BF16, {a.head_dim});
      Tensor kwc = put(*b.cpu, kw, DType::BF16, {a.head_dim});
      Tensor qwg = put(*b.gpu, qw, DType::BF16, {a.head_dim});
      Tensor kwg = put(*b.gpu, kw, DType::BF16, {a.head_dim});
      b.cpu->qk_rmsnorm(qc, qwc, kwc, 1e-6f, a);
      b.gpu->qk_rmsnorm(qg, qwg, kwg, 1e-6f, a);
      EXPECT_LE(rel_err(get(*b.gpu, qg), test::expected_as(get(*b.cpu, qc), act)), kOpTol);
    }
  }
}

std::vector<float> inv_freq_for(int head_dim, double theta) {
  std::vector<float> f(size_t(head_dim / 2));
  for (int i = 0; i < head_dim / 2; ++i) f[size_t(i)] = float(1.0 / std::pow(theta, 2.0 * i / head_dim));
  return f;
}

// A shuffled block table of `n` blocks drawn from `pool`.
std::vector<int32_t> take_blocks(std::vector<int32_t>& pool, int n) {
  std::vector<int32_t> t(pool.end() - n, pool.end());
  pool.resize(pool.size() - size_t(n));
  return t;
}

TEST(CudaOps, RopeAndStoreKv) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  for (DType act : test::activation_modes()) {
    Backends b(act);
    for (AttnShape a : {AttnShape{8, 2, 64, 0.125f, 0}, AttnShape{8, 4, 8, 0.35f, 0},
                        AttnShape{12, 4, 96, 0.1f, 0}, AttnShape{32, 8, 128, 0.088f, 0}}) {
      SCOPED_TRACE(mode(act) + " heads=" + std::to_string(a.n_heads) + "/" +
                   std::to_string(a.n_kv_heads) + " D=" + std::to_string(a.head_dim));
      const int bs = 16, num_blocks = 600;
      std::vector<int32_t> pool(num_blocks);
      std::iota(pool.begin(), pool.end(), 0);
      std::shuffle(pool.begin(), pool.end(), g);
      StepInput in;  // chunks at small and large positions (angles far past 2π)
      for (auto [start, len] : {std::pair{0, 5}, {37, 1}, {8000, 9}}) {
        std::vector<int32_t> ids(size_t(len), 3);
        in.add_sequence(ids, start, take_blocks(pool, (start + len + bs - 1) / bs), bs, false);
      }
      const int T = in.num_tokens(), W = (a.n_heads + 2 * a.n_kv_heads) * a.head_dim;
      auto qkv = rand_bf16(size_t(T) * W, g);
      const auto freq = inv_freq_for(a.head_dim, 500000.0);
      KvCacheSpec spec{1, num_blocks, bs, a.n_kv_heads, a.head_dim, DType::F32};
      KvCache kc = b.cpu->alloc_kv_cache(spec), kg = b.gpu->alloc_kv_cache(spec);
      Tensor qc = put(*b.cpu, qkv, DType::F32, {T, W}), qg = put(*b.gpu, qkv, act, {T, W});
      Tensor fc = put(*b.cpu, freq, DType::F32, {a.head_dim / 2});
      Tensor fg = put(*b.gpu, freq, DType::F32, {a.head_dim / 2});
      StepTensors sc = b.cpu->upload_step(in), sg = b.gpu->upload_step(in);
      b.cpu->rope_and_store_kv(qc, fc, sc, a, kc, 0);
      b.gpu->rope_and_store_kv(qg, fg, sg, a, kg, 0);
      EXPECT_LE(rel_err(get(*b.gpu, qg), test::expected_as(get(*b.cpu, qc), act)), kOpTol);
      // The cache slots that were written, in slot order.
      const int64_t kvd = int64_t(a.n_kv_heads) * a.head_dim;
      for (bool is_k : {true, false}) {
        const auto all_c = get(*b.cpu, is_k ? kc.k[0] : kc.v[0]);
        const auto all_g = get(*b.gpu, is_k ? kg.k[0] : kg.v[0]);
        std::vector<float> wc, wg;
        for (int32_t slot : in.slot_mapping) {
          wc.insert(wc.end(), all_c.begin() + slot * kvd, all_c.begin() + (slot + 1) * kvd);
          wg.insert(wg.end(), all_g.begin() + slot * kvd, all_g.begin() + (slot + 1) * kvd);
        }
        EXPECT_LE(rel_err(wg, test::expected_as(wc, act)), kOpTol) << (is_k ? "k" : "v");
      }
    }
  }
}

// Attention over a cache filled by rope_and_store_kv with inv_freq = 0 (an exact identity, so
// both caches hold the same bf16-representable keys; RoPE is checked above). `past` tokens of
// each sequence go in first, then a step of `q_len` new tokens per sequence is attended.
struct SeqCase {
  int past, q_len;
};

void check_attention(const AttnShape& a, const std::vector<SeqCase>& seqs, std::mt19937& g) {
  const int bs = 16;
  int blocks_needed = 0;
  for (auto s : seqs) blocks_needed += (s.past + s.q_len + bs - 1) / bs;
  const int num_blocks = blocks_needed + 3;
  const int W = (a.n_heads + 2 * a.n_kv_heads) * a.head_dim;
  std::vector<int32_t> pool(num_blocks);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), g);
  std::vector<std::vector<int32_t>> tables;
  for (auto s : seqs) tables.push_back(take_blocks(pool, (s.past + s.q_len + bs - 1) / bs));

  StepInput past, now;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i].past > 0)
      past.add_sequence(std::vector<int32_t>(size_t(seqs[i].past), 1), 0, tables[i], bs, false);
    now.add_sequence(std::vector<int32_t>(size_t(seqs[i].q_len), 1), seqs[i].past, tables[i], bs,
                     true);
  }
  const auto qkv_past = rand_bf16(size_t(past.num_tokens()) * W, g);
  const auto qkv_now = rand_bf16(size_t(now.num_tokens()) * W, g);
  const std::vector<float> zero_freq(size_t(a.head_dim / 2), 0.f);

  for (DType act : test::activation_modes()) {
    SCOPED_TRACE(mode(act));
    Backends b(act);
    KvCacheSpec spec{1, num_blocks, bs, a.n_kv_heads, a.head_dim, DType::F32};
    std::vector<float> outs[2];
    for (int side = 0; side < 2; ++side) {
      Backend& be = side == 0 ? *b.cpu : static_cast<Backend&>(*b.gpu);
      const DType dt = side == 0 ? DType::F32 : act;
      KvCache kv = be.alloc_kv_cache(spec);
      Tensor f = put(be, zero_freq, DType::F32, {a.head_dim / 2});
      if (past.num_tokens() > 0) {
        Tensor q = put(be, qkv_past, dt, {past.num_tokens(), W});
        StepTensors st = be.upload_step(past);
        be.rope_and_store_kv(q, f, st, a, kv, 0);
      }
      Tensor q = put(be, qkv_now, dt, {now.num_tokens(), W});
      StepTensors st = be.upload_step(now);
      be.rope_and_store_kv(q, f, st, a, kv, 0);
      Tensor out = side == 0 ? be.alloc(DType::F32, {now.num_tokens(), a.n_heads * a.head_dim})
                             : poisoned(be, dt, {now.num_tokens(), a.n_heads * a.head_dim});
      be.paged_attention(q, kv, 0, st, a, out);
      outs[side] = get(be, out);
    }
    EXPECT_LE(rel_err(outs[1], test::expected_as(outs[0], act)), kOpTol);
  }
}

std::string shape_name(const AttnShape& a) {
  return "heads=" + std::to_string(a.n_heads) + "/" + std::to_string(a.n_kv_heads) +
         " D=" + std::to_string(a.head_dim) + " window=" + std::to_string(a.sliding_window);
}

TEST(CudaOps, PagedAttentionPrefillMixedLengths) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  // Fresh prompts, chunks after a cached past, and a decode token, in one launch.
  const std::vector<SeqCase> seqs{{0, 1}, {0, 37}, {50, 20}, {5, 100}, {130, 1}, {0, 16}};
  for (AttnShape a : {AttnShape{4, 4, 64, 0.125f, 0}, AttnShape{8, 2, 128, 0.088f, 0},
                      AttnShape{8, 4, 8, 0.35f, 0}, AttnShape{12, 4, 96, 0.1f, 0},
                      AttnShape{4, 2, 256, 0.0625f, 0}, AttnShape{8, 2, 64, 0.125f, 37},
                      AttnShape{8, 2, 256, 0.0625f, 37, 1.5f}}) {
    SCOPED_TRACE(shape_name(a) + " softcap=" + std::to_string(a.logit_softcap));
    check_attention(a, seqs, g);
  }
}

TEST(CudaOps, PagedAttentionDecodeSplitAndGqa) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  // Few sequences with long contexts: the context is split across blocks and merged.
  const std::vector<SeqCase> few{{0, 1}, {16, 1}, {299, 1}, {2000, 1}, {4099, 1}};
  for (AttnShape a : {AttnShape{8, 2, 128, 0.088f, 0}, AttnShape{32, 2, 64, 0.125f, 0},
                      AttnShape{8, 8, 64, 0.125f, 0}, AttnShape{8, 4, 8, 0.35f, 0},
                      AttnShape{12, 4, 96, 0.1f, 0}, AttnShape{8, 1, 256, 0.0625f, 0},
                      AttnShape{8, 2, 128, 0.088f, 1000},
                      AttnShape{4, 1, 256, 0.0625f, 512, 1.5f}}) {
    SCOPED_TRACE(shape_name(a) + " softcap=" + std::to_string(a.logit_softcap));
    check_attention(a, few, g);
  }
  // Many sequences: one part each, written directly.
  std::vector<SeqCase> many;
  std::uniform_int_distribution<int> len(0, 700);
  for (int i = 0; i < 96; ++i) many.push_back({len(g), 1});
  check_attention(AttnShape{32, 8, 128, 0.088f, 0}, many, g);
}

// Copy-on-write of KV blocks against the CPU reference, on the cache alloc_kv_cache lays out
// (one strided copy per pair) and on one of separately allocated pools (a copy per pool).
// Every block is filled through rope_and_store_kv with inv_freq = 0 (exact), different per
// layer, so a copy into the wrong layer or block shows.
TEST(CudaOps, CopyKvBlocks) {
  EMBER_REQUIRE_GPU();
  const uint32_t seed = test::fresh_seed();
  SCOPED_TRACE(seed);
  std::mt19937 g(seed);
  const AttnShape a{4, 2, 16, 0.25f, 0};
  const int layers = 3, num_blocks = 7, bs = 4;
  const int W = (a.n_heads + 2 * a.n_kv_heads) * a.head_dim;
  std::vector<int32_t> table(num_blocks);
  std::iota(table.begin(), table.end(), 0);
  std::shuffle(table.begin(), table.end(), g);
  StepInput fill;
  fill.add_sequence(std::vector<int32_t>(size_t(num_blocks * bs), 1), 0, table, bs, false);
  std::vector<std::vector<float>> qkv;
  for (int l = 0; l < layers; ++l) qkv.push_back(rand_bf16(size_t(fill.num_tokens()) * W, g));
  const std::vector<float> zero_freq(size_t(a.head_dim / 2), 0.f);
  // In order: block 4 gets block 3's new content (= old block 0); 6 onto itself is a no-op.
  const std::vector<std::pair<int32_t, int32_t>> pairs{{0, 3}, {2, 1}, {3, 4}, {6, 6}};
  const KvCacheSpec spec{layers, num_blocks, bs, a.n_kv_heads, a.head_dim, DType::F32};

  for (DType act : test::activation_modes()) {
    Backends b(act);
    for (bool separate_pools : {false, true}) {
      SCOPED_TRACE(mode(act) + (separate_pools ? " separate pools" : " one allocation"));
      std::vector<std::vector<float>> pools[2];
      for (int side = 0; side < 2; ++side) {
        Backend& be = side == 0 ? *b.cpu : static_cast<Backend&>(*b.gpu);
        const DType dt = side == 0 ? DType::F32 : act;
        KvCache kv = be.alloc_kv_cache(spec);
        if (separate_pools && side == 1) {
          const Shape shape{num_blocks, bs, a.n_kv_heads, a.head_dim};
          for (int l = 0; l < layers; ++l) {
            kv.k[size_t(l)] = be.alloc(dt, shape);
            kv.v[size_t(l)] = be.alloc(dt, shape);
          }
        }
        Tensor f = put(be, zero_freq, DType::F32, {a.head_dim / 2});
        StepTensors st = be.upload_step(fill);
        for (int l = 0; l < layers; ++l) {
          Tensor q = put(be, qkv[size_t(l)], dt, {fill.num_tokens(), W});
          be.rope_and_store_kv(q, f, st, a, kv, l);
        }
        be.copy_kv_blocks(kv, pairs);
        for (int l = 0; l < layers; ++l) {
          pools[side].push_back(get(be, kv.k[size_t(l)]));
          pools[side].push_back(get(be, kv.v[size_t(l)]));
        }
        if (side == 1) {
          EXPECT_THROW(be.copy_kv_blocks(kv, std::vector<std::pair<int32_t, int32_t>>{{0, 7}}),
                       Error);
          EXPECT_THROW(be.copy_kv_blocks(kv, std::vector<std::pair<int32_t, int32_t>>{{-1, 0}}),
                       Error);
          EXPECT_EQ(get(be, kv.k[0]), pools[1][0]) << "a rejected copy changed the cache";
        }
      }
      ASSERT_EQ(pools[0].size(), pools[1].size());
      for (size_t p = 0; p < pools[0].size(); ++p)
        EXPECT_EQ(pools[1][p], test::expected_as(pools[0][p], act)) << "pool " << p;
    }
  }
}

TEST(CudaOps, RejectsBadShapes) {
  EMBER_REQUIRE_GPU();
  Backends b(DType::BF16);
  std::mt19937 g(2);
  Tensor x = put(*b.gpu, rand_bf16(4 * 8, g), DType::BF16, {4, 8});
  Tensor w = put(*b.gpu, rand_bf16(5 * 9, g), DType::BF16, {5, 9});
  Tensor out = b.gpu->alloc(DType::BF16, {4, 5});
  EXPECT_THROW(b.gpu->matmul(x, w, nullptr, out), Error);  // K mismatch
  Tensor xf = put(*b.gpu, rand_bf16(4 * 8, g), DType::F32, {4, 8});
  Tensor o2 = b.gpu->alloc(DType::BF16, {4, 8});
  Tensor nw = put(*b.gpu, rand_bf16(8, g), DType::F32, {8});
  EXPECT_THROW(b.gpu->rmsnorm(xf, nw, 1e-5f, o2), Error);  // F32 input on a bf16 backend
}

TEST(CudaBackend, WithoutDeviceFailsClearly) {
  if (cuda_device_available()) GTEST_SKIP() << "a CUDA device is present";
  EXPECT_THROW(make_cuda_backend(0, 0.9), Error);
}

}  // namespace
}  // namespace ember
