// The roofline bench. First the two ceilings are MEASURED on this device (a large device-to-
// device copy, counting bytes read plus written; a large cuBLASLt bf16 GEMM), then every kernel
// family is timed over real model shapes (bench_shapes.h: Llama-3-8B, Qwen2.5-7B, Mistral-7B,
// Llama-3-70B per TP=8 shard; batch 1..256; context 128..8192) and reported as time, achieved
// bytes/s and FLOP/s (the fewest bytes: each input read once, each output written once), and
// the fraction of the roofline: max(bytes / measured bandwidth, flops / measured rate) over the
// measured time.
//
// Each timed call runs cold: L2 is flushed (a write of twice its size) before it, outside the
// events, because decode streams weights and KV from HBM and a hot L2 would flatter small
// shapes. Inputs are device-filled random values, never zeros. The median of `reps` is kept.
//
// Usage: bench_kernels_cuda [out.json] [--quick] [--model NAME]...
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "bench/cuda/bench_fill.h"
#include "bench/cuda/bench_shapes.h"
#include "engine/core/dtype.h"
#include "kernels/cuda_check.h"
#include "kernels/gemm_lt.h"
#include "kernels/ops.h"

namespace ember::bench {
namespace {

using namespace ember::cuda;

struct Buf {
  void* p = nullptr;
  size_t bytes = 0;
  Buf() = default;
  explicit Buf(size_t b) : bytes(std::max<size_t>(b, 16)) { EMBER_CUDA_CHECK(cudaMalloc(&p, bytes)); }
  ~Buf() { cudaFree(p); }
  Buf(const Buf&) = delete;
  Buf& operator=(const Buf&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

struct Result {
  std::string family, model, name;
  int batch = 0, ctx = 0;
  double ms = 0, bytes = 0, flops = 0;
};

struct Bench {
  cudaStream_t s = nullptr;
  cudaDeviceProp prop{};
  bool quick = false;
  std::vector<std::string> only_models;
  double hbm_gbps = 0, bf16_tflops = 0;  // measured ceilings
  std::vector<Result> results;
  uint64_t seed = 1;
  std::unique_ptr<Buf> flush;
  cudaEvent_t ev_a = nullptr, ev_b = nullptr;

  void init() {
    EMBER_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    EMBER_CUDA_CHECK(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking));
    EMBER_CUDA_CHECK(cudaEventCreate(&ev_a));
    EMBER_CUDA_CHECK(cudaEventCreate(&ev_b));
    flush = std::make_unique<Buf>(size_t(std::max(prop.l2CacheSize, 1 << 20)) * 2);
  }

  void rand_bf16(Buf& b, float scale = 1.f) { fill_bf16(b.p, b.bytes / 2, scale, seed++, s); }
  void rand_f32(Buf& b, float lo, float hi) { fill_f32(b.as<float>(), b.bytes / 4, lo, hi, seed++, s); }
  void put_i32(Buf& b, const std::vector<int32_t>& h) {
    EMBER_CUDA_CHECK(cudaMemcpyAsync(b.p, h.data(), h.size() * 4, cudaMemcpyHostToDevice, s));
    EMBER_CUDA_CHECK(cudaStreamSynchronize(s));
  }

  // Median over `reps` cold calls, after two warm-up calls.
  double time_ms(const std::function<void()>& fn, int reps = 20, bool cold = true) {
    fn();
    fn();
    std::vector<float> t;
    for (int i = 0; i < reps; ++i) {
      if (cold) EMBER_CUDA_CHECK(cudaMemsetAsync(flush->p, i & 0xff, flush->bytes, s));
      EMBER_CUDA_CHECK(cudaEventRecord(ev_a, s));
      fn();
      EMBER_CUDA_CHECK(cudaEventRecord(ev_b, s));
      EMBER_CUDA_CHECK(cudaEventSynchronize(ev_b));
      float ms = 0;
      EMBER_CUDA_CHECK(cudaEventElapsedTime(&ms, ev_a, ev_b));
      t.push_back(ms);
    }
    EMBER_CUDA_CHECK(cudaGetLastError());
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  }

  void record(Result r) {
    results.push_back(std::move(r));
    const Result& x = results.back();
    std::fprintf(stderr, "  %-14s %-16s %-34s %9.4f ms %8.1f GB/s %7.1f TF/s %5.1f%%\n",
                 x.family.c_str(), x.model.c_str(), x.name.c_str(), x.ms,
                 x.bytes / x.ms * 1e-6, x.flops / x.ms * 1e-9, 100 * roofline_fraction(x));
  }

  double roofline_fraction(const Result& r) const {
    const double floor_ms = std::max(r.bytes / (hbm_gbps * 1e9), r.flops / (bf16_tflops * 1e12)) * 1e3;
    return floor_ms / r.ms;
  }

  // The two ceilings -------------------------------------------------------------------------
  void measure_ceilings() {
    {
      const size_t n = size_t(2) << 30;
      Buf a(n), b(n);
      rand_bf16(a);
      const double ms = time_ms(
          [&] { EMBER_CUDA_CHECK(cudaMemcpyAsync(b.p, a.p, n, cudaMemcpyDeviceToDevice, s)); }, 10,
          false);
      hbm_gbps = 2.0 * double(n) / (ms * 1e-3) / 1e9;
    }
    {
      const int64_t M = 8192, N = 8192, K = 8192;
      GemmLt gemm;
      Buf x(size_t(M * K * 2)), w(size_t(N * K * 2)), o(size_t(M * N * 2));
      rand_bf16(x), rand_bf16(w, 0.02f);
      const double ms =
          time_ms([&] { gemm.run(x.p, w.p, nullptr, o.p, M, N, K, kBF16, kBF16, s); }, 10, false);
      bf16_tflops = 2.0 * double(M) * N * K / (ms * 1e-3) / 1e12;
    }
    std::fprintf(stderr, "measured: %.0f GB/s device copy, %.0f TFLOP/s bf16 GEMM\n", hbm_gbps,
                 bf16_tflops);
  }

  // Families ---------------------------------------------------------------------------------
  std::vector<int> gemm_ms() const {
    if (quick) return {1, 64, 256, 2048};
    std::vector<int> m = decode_batches();
    m.push_back(2048);
    m.push_back(8192);
    return m;
  }

  void gemm(const ModelShape& ms) {
    GemmLt g;
    struct Proj { const char* name; int64_t N, K; };
    const Proj projs[] = {{"qkv", ms.qkv_width(), ms.hidden},
                          {"o_proj", ms.hidden, int64_t(ms.n_heads) * ms.head_dim},
                          {"gate_up", 2 * int64_t(ms.inter), ms.hidden},
                          {"down", ms.hidden, ms.inter},
                          {"lm_head", ms.vocab, ms.hidden}};
    const std::vector<int> Ms = gemm_ms();
    const int64_t Mmax = *std::max_element(Ms.begin(), Ms.end());
    for (const Proj& p : projs) {
      Buf w(size_t(p.N * p.K * 2)), x(size_t(Mmax * p.K * 2)), o(size_t(Mmax * p.N * 2));
      rand_bf16(w, 0.02f), rand_bf16(x);
      for (int M : Ms) {
        const double t = time_ms(
            [&] { g.run(x.p, w.p, nullptr, o.p, M, p.N, p.K, kBF16, kBF16, s); }, M >= 2048 ? 10 : 20);
        record({"gemm", ms.name,
                std::string(p.name) + " M=" + std::to_string(M) + " N=" + std::to_string(p.N) +
                    " K=" + std::to_string(p.K),
                M, 0, t, 2.0 * (double(M) * p.K + double(p.N) * p.K + double(M) * p.N),
                2.0 * M * p.N * p.K});
      }
    }
  }

  std::vector<int> token_counts() const {
    return quick ? std::vector<int>{1, 256} : std::vector<int>{1, 16, 64, 256, 2048, 8192};
  }

  void elementwise(const ModelShape& ms) {
    const int H = ms.hidden, I = ms.inter, nq = ms.n_heads, nkv = ms.n_kv_heads, D = ms.head_dim;
    const int Tmax = token_counts().back();
    Buf x(size_t(Tmax) * H * 2), r(x.bytes), w(size_t(H) * 2), o(x.bytes);
    Buf gu(size_t(Tmax) * 2 * I * 2), act(size_t(Tmax) * I * 2);
    const int W = ms.qkv_width(), bs = 16, blocks = (Tmax + bs - 1) / bs * 2;
    Buf qkv(size_t(Tmax) * W * 2), kc(size_t(blocks) * bs * nkv * D * 2), vc(kc.bytes);
    Buf freq(size_t(D / 2) * 4), pos(size_t(Tmax) * 4), slots(size_t(Tmax) * 4);
    rand_bf16(x), rand_bf16(r), rand_bf16(w), rand_bf16(gu), rand_bf16(qkv);
    rand_f32(freq, 1e-4f, 1.f);
    std::vector<int32_t> p(static_cast<size_t>(Tmax)), sl(static_cast<size_t>(Tmax));
    for (int i = 0; i < Tmax; ++i)
      p[size_t(i)] = 100 + i, sl[size_t(i)] = int32_t((i * 37) % (blocks * bs));
    put_i32(pos, p), put_i32(slots, sl);
    for (int T : token_counts()) {
      const std::string t = " T=" + std::to_string(T);
      double ms_ = time_ms([&] { rmsnorm(x.p, w.p, kBF16, o.p, kBF16, T, H, 1e-5f, s); });
      record({"rmsnorm", ms.name, "rmsnorm" + t, T, 0, ms_, 2.0 * T * H * 2 + H * 2, 0});
      ms_ = time_ms([&] { add_rmsnorm(r.p, x.p, w.p, kBF16, o.p, kBF16, T, H, 1e-5f, s); });
      record({"add_rmsnorm", ms.name, "add_rmsnorm" + t, T, 0, ms_, 4.0 * T * H * 2 + H * 2, 0});
      ms_ = time_ms([&] { silu_mul(gu.p, act.p, kBF16, T, I, s); });
      record({"silu_mul", ms.name, "silu_mul" + t, T, 0, ms_, 3.0 * T * I * 2, 0});
      ms_ = time_ms([&] {
        rope_store_kv(qkv.p, kBF16, freq.as<float>(), pos.as<int32_t>(), slots.as<int32_t>(), T,
                      nq, nkv, D, kc.p, vc.p, s);
      });
      record({"rope_store_kv", ms.name, "rope_store_kv" + t, T, 0, ms_,
              double(T) * (W + (nq + nkv) * D + 2 * nkv * D) * 2 + double(T) * 8, 0});
    }
  }

  void attention(const ModelShape& ms) {
    const int nq = ms.n_heads, nkv = ms.n_kv_heads, D = ms.head_dim, W = ms.qkv_width(), bs = 16;
    const std::vector<int> batches = quick ? std::vector<int>{1, 64, 256} : decode_batches();
    const std::vector<int> ctxs = quick ? std::vector<int>{2048} : contexts();
    auto run_case = [&](int seqs, int ctx, int q_len) {
      const int blocks_per = (ctx + bs - 1) / bs, blocks = blocks_per * seqs, T = seqs * q_len;
      const double kv_bytes = double(seqs) * ctx * nkv * D * 2 * 2;
      if (kv_bytes > 0.4 * double(prop.totalGlobalMem)) return;  // does not fit with the rest
      Buf qkv(size_t(T) * W * 2), out(size_t(T) * nq * D * 2);
      Buf kc(size_t(blocks) * bs * nkv * D * 2), vc(kc.bytes);
      rand_bf16(qkv), rand_bf16(kc), rand_bf16(vc);
      std::vector<int32_t> info, tables(static_cast<size_t>(blocks));
      for (int sq = 0; sq < seqs; ++sq) info.insert(info.end(), {sq * q_len, q_len, ctx});
      for (int i = 0; i < blocks; ++i) tables[size_t(i)] = int32_t((int64_t(i) * 7919) % blocks);
      Buf dinfo(info.size() * 4), dtab(tables.size() * 4);
      put_i32(dinfo, info), put_i32(dtab, tables);
      AttnArgs a;
      a.qkv = qkv.p, a.out = out.p, a.k_cache = kc.p, a.v_cache = vc.p;
      a.seq_info = dinfo.as<int32_t>(), a.block_tables = dtab.as<int32_t>();
      a.max_blocks = blocks_per, a.num_seqs = seqs, a.max_q_len = q_len, a.max_ctx_len = ctx;
      a.n_heads = nq, a.n_kv_heads = nkv, a.head_dim = D, a.block_size = bs;
      a.scale = 1.f / std::sqrt(float(D)), a.act = kBF16;
      const std::string nm = " S=" + std::to_string(seqs) + " ctx=" + std::to_string(ctx);
      if (q_len == 1) {
        const int splits = decode_num_splits(seqs, nkv, nq, ctx, prop.multiProcessorCount);
        Buf part(decode_partials_floats(seqs, nq, D, splits) * 4);
        const double t = time_ms([&] { attention_decode(a, splits, part.as<float>(), s); });
        record({"attn_decode", ms.name, "decode" + nm + " splits=" + std::to_string(splits), seqs,
                ctx, t, kv_bytes + double(T) * (W + nq * D) * 2, 4.0 * seqs * nq * D * double(ctx)});
      } else {
        const double t = time_ms([&] { attention_prefill(a, s); }, 5);
        record({"attn_prefill", ms.name, "prefill" + nm, seqs, ctx, t,
                kv_bytes + double(T) * (W + nq * D) * 2,
                4.0 * seqs * nq * D * double(ctx) * q_len / 2});
      }
    };
    for (int b : batches)
      for (int c : ctxs) run_case(b, c, 1);
    for (int c : ctxs) run_case(1, c, c);
  }

  void sampling(const ModelShape& ms) {
    const int V = ms.vocab;
    for (int rows : quick ? std::vector<int>{1, 256} : std::vector<int>{1, 64, 256}) {
      Buf lg(size_t(rows) * V * 4), ids(size_t(rows) * 4);
      rand_f32(lg, -10.f, 10.f);
      double t = time_ms([&] { argmax(lg.p, kF32, rows, V, ids.as<int32_t>(), s); });
      record({"argmax", ms.name, "argmax R=" + std::to_string(rows), rows, 0, t, double(lg.bytes), 0});
      std::vector<SampleRowParams> p(static_cast<size_t>(rows));
      for (int i = 0; i < rows; ++i) p[size_t(i)] = {0.8f, 0, 0.95f, 0u, uint64_t(i), 3};
      Buf dp(p.size() * sizeof(SampleRowParams));
      EMBER_CUDA_CHECK(cudaMemcpy(dp.p, p.data(), p.size() * sizeof(SampleRowParams),
                                  cudaMemcpyHostToDevice));
      const size_t wsb = sample_workspace_bytes(rows, V);
      Buf ws(wsb);
      t = time_ms([&] {
        sample(lg.p, kF32, rows, V, dp.as<SampleRowParams>(), ws.p, wsb, ids.as<int32_t>(), s);
      }, 10);
      record({"sample", ms.name, "sample top_p=0.95 R=" + std::to_string(rows), rows, 0, t,
              double(lg.bytes), 0});
      // The validators' logprobs: three passes over each row (max, the normaliser, the top 20).
      Buf chosen(size_t(rows) * 4), top_ids(size_t(rows) * 20 * 4), top_lp(size_t(rows) * 20 * 4);
      t = time_ms([&] {
        top_logprobs(lg.as<float>(), rows, V, ids.as<int32_t>(), 20, chosen.as<float>(),
                     top_ids.as<int32_t>(), top_lp.as<float>(), s);
      });
      record({"top_logprobs", ms.name, "top_logprobs k=20 R=" + std::to_string(rows), rows, 0, t,
              3.0 * double(lg.bytes), 0});
      // Penalties over 512 distinct tokens of history per row (scattered 4-byte updates).
      const int per_row = 512;
      std::vector<LogitEdit> ed(size_t(rows) * per_row);
      std::vector<int32_t> off(size_t(rows) + 1);
      std::vector<RowPenalties> pen(static_cast<size_t>(rows), RowPenalties{1.1f, 0.3f, 0.2f});
      for (int r = 0; r <= rows; ++r) off[size_t(r)] = r * per_row;
      for (size_t e = 0; e < ed.size(); ++e)
        ed[e] = LogitEdit{int32_t((e * 7919) % size_t(V)), kEditSeen, 0.f, int32_t(e % 3)};
      Buf ded(ed.size() * sizeof(LogitEdit)), doff(off.size() * 4), dpen(pen.size() * sizeof(RowPenalties));
      EMBER_CUDA_CHECK(cudaMemcpy(ded.p, ed.data(), ed.size() * sizeof(LogitEdit),
                                  cudaMemcpyHostToDevice));
      EMBER_CUDA_CHECK(cudaMemcpy(doff.p, off.data(), off.size() * 4, cudaMemcpyHostToDevice));
      EMBER_CUDA_CHECK(cudaMemcpy(dpen.p, pen.data(), pen.size() * sizeof(RowPenalties),
                                  cudaMemcpyHostToDevice));
      t = time_ms([&] {
        apply_logit_edits(lg.as<float>(), rows, V, doff.as<int32_t>(), ded.as<LogitEdit>(),
                          dpen.as<RowPenalties>(), s);
      });
      record({"logit_edits", ms.name, "logit_edits 512/row R=" + std::to_string(rows), rows, 0, t,
              double(ed.size()) * (sizeof(LogitEdit) + 8), 0});
    }
  }

  // Report -----------------------------------------------------------------------------------
  // Aggregates over the llama-3-8b results: bytes (or flops) summed over time summed.
  double fraction(const std::string& family, const std::function<bool(const Result&)>& pick,
                  bool by_flops) const {
    double num = 0, ms = 0;
    for (const Result& r : results)
      if (r.model == "llama-3-8b" && r.family == family && pick(r)) {
        num += by_flops ? r.flops : r.bytes;
        ms += r.ms;
      }
    if (ms == 0) return -1;
    const double rate = num / (ms * 1e-3);
    return by_flops ? rate / (bf16_tflops * 1e12) : rate / (hbm_gbps * 1e9);
  }

  // The short table last, so the tail of the output carries it.
  void print_summary() const {
    std::printf("measured_hbm_gbps %.1f  measured_bf16_tflops %.2f\n", hbm_gbps, bf16_tflops);
    std::printf("llama-3-8b roofline fractions: decode_b1_gemm_bw %.3f  decode_attn_bw %.3f  "
                "add_rmsnorm_bw %.3f  prefill_gemm %.3f\n",
                fraction("gemm", [](const Result& r) { return r.batch == 1; }, false),
                fraction("attn_decode", [](const Result& r) { return r.batch == 64 && r.ctx == 2048; },
                         false),
                fraction("add_rmsnorm", [](const Result& r) { return r.batch == 256; }, false),
                fraction("gemm", [](const Result& r) { return r.batch == 2048; }, true));
    std::map<std::string, std::pair<double, int>> worst;  // family -> lowest fraction
    for (const Result& r : results) {
      auto& w = worst[r.family];
      const double f = roofline_fraction(r);
      if (w.second == 0 || f < w.first) w = {f, 1};
    }
    for (const auto& [fam, w] : worst) std::printf("  %-14s lowest roofline fraction %.3f\n", fam.c_str(), w.first);
  }

  static std::string esc(const std::string& s) {
    std::string o;
    for (char c : s) o += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
    return o;
  }

  void write_json(FILE* f) const {
    auto num = [](double v) { return std::isfinite(v) && v >= 0 ? v : -1.0; };
    std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"sms\": %d,\n  \"l2_bytes\": %d,\n",
                 esc(prop.name).c_str(), prop.multiProcessorCount, prop.l2CacheSize);
    std::fprintf(f, "  \"quick\": %s,\n  \"measured_hbm_gbps\": %.1f,\n  \"measured_bf16_tflops\": %.2f,\n",
                 quick ? "true" : "false", hbm_gbps, bf16_tflops);
    std::fprintf(f,
                 "  \"roofline\": {\n    \"decode_b1_bw_fraction\": %.4f,\n"
                 "    \"decode_attention_bw_fraction\": %.4f,\n    \"rmsnorm_bw_fraction\": %.4f,\n"
                 "    \"prefill_gemm_fraction\": %.4f\n  },\n",
                 num(fraction("gemm", [](const Result& r) { return r.batch == 1; }, false)),
                 num(fraction("attn_decode",
                              [](const Result& r) { return r.batch == 64 && r.ctx == 2048; }, false)),
                 num(fraction("add_rmsnorm", [](const Result& r) { return r.batch == 256; }, false)),
                 num(fraction("gemm", [](const Result& r) { return r.batch == 2048; }, true)));
    std::fprintf(f, "  \"results\": [\n");
    for (size_t i = 0; i < results.size(); ++i) {
      const Result& r = results[i];
      std::fprintf(f,
                   "    {\"family\": \"%s\", \"model\": \"%s\", \"name\": \"%s\", \"batch\": %d, "
                   "\"ctx\": %d, \"ms\": %.6f, \"bytes\": %.0f, \"flops\": %.0f, \"gbps\": %.2f, "
                   "\"tflops\": %.3f, \"roofline_fraction\": %.4f}%s\n",
                   r.family.c_str(), r.model.c_str(), esc(r.name).c_str(), r.batch, r.ctx, r.ms,
                   r.bytes, r.flops, r.bytes / r.ms * 1e-6, r.flops / r.ms * 1e-9,
                   roofline_fraction(r), i + 1 < results.size() ? "," : "");
    }
    std::fprintf(f, "  ]\n}\n");
  }
};

}  // namespace
}  // namespace ember::bench

int main(int argc, char** argv) {
  using namespace ember::bench;
  Bench b;
  std::string out;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      b.quick = true;
    } else if (a == "--model" && i + 1 < argc) {
      b.only_models.push_back(argv[++i]);
    } else if (a == "--help" || a == "-h" || (a.size() > 1 && a[0] == '-')) {
      std::fprintf(stderr, "usage: bench_kernels_cuda [out.json] [--quick] [--model NAME]...\n");
      return a == "--help" || a == "-h" ? 0 : 2;
    } else {
      out = a;
    }
  }
  for (const std::string& m : b.only_models) {
    bool known = false;
    for (const ModelShape& s : model_shapes()) known |= s.name == m;
    if (!known) {
      std::fprintf(stderr, "bench_kernels_cuda: unknown model %s\n", m.c_str());
      return 2;
    }
  }
  try {
    b.init();
    b.measure_ceilings();
    for (const ModelShape& ms : model_shapes()) {
      if (!b.only_models.empty() &&
          std::find(b.only_models.begin(), b.only_models.end(), ms.name) == b.only_models.end())
        continue;
      if (b.quick && b.only_models.empty() && ms.name != "llama-3-8b") continue;
      std::fprintf(stderr, "== %s\n", ms.name.c_str());
      b.gemm(ms);
      b.elementwise(ms);
      b.attention(ms);
      b.sampling(ms);
    }
    EMBER_CUDA_CHECK(cudaDeviceSynchronize());
    b.print_summary();
    if (!out.empty()) {
      FILE* f = std::fopen(out.c_str(), "w");
      if (!f) {
        std::fprintf(stderr, "bench_kernels_cuda: cannot write %s\n", out.c_str());
        return 1;
      }
      b.write_json(f);
      std::fclose(f);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
