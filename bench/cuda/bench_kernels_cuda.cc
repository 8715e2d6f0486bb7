// Times each CUDA kernel family on shapes of an 8B-class model (Llama-3-8B: hidden 4096, 32 q
// heads, 8 kv heads, head_dim 128, intermediate 14336) with CUDA events, and reports achieved
// bandwidth (bytes each input read once + each output written once, over the median time) and
// arithmetic rate. Inputs are random, never zeros. Usage: bench_kernels_cuda [out.json]
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "engine/core/dtype.h"
#include "kernels/cuda_check.h"
#include "kernels/gemm_lt.h"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

struct Result {
  std::string name;
  double ms, gbps, tflops;
};

// Device buffer of random bf16 values (or ints in [0, hi)).
struct Buf {
  void* p = nullptr;
  size_t bytes = 0;
  Buf() = default;
  explicit Buf(size_t b) : bytes(b) { EMBER_CUDA_CHECK(cudaMalloc(&p, b)); }
  ~Buf() { cudaFree(p); }
  Buf(const Buf&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(p); }
};

std::mt19937 rng(12345);

void fill_bf16(Buf& b, float scale = 1.f) {
  std::normal_distribution<float> d(0.f, scale);
  std::vector<uint16_t> h(b.bytes / 2);
  for (auto& x : h) x = f32_to_bf16(d(rng));
  EMBER_CUDA_CHECK(cudaMemcpy(b.p, h.data(), b.bytes, cudaMemcpyHostToDevice));
}
void fill_f32(Buf& b, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> h(b.bytes / 4);
  for (auto& x : h) x = d(rng);
  EMBER_CUDA_CHECK(cudaMemcpy(b.p, h.data(), b.bytes, cudaMemcpyHostToDevice));
}
void fill_i32(Buf& b, const std::vector<int32_t>& h) {
  EMBER_CUDA_CHECK(cudaMemcpy(b.p, h.data(), h.size() * 4, cudaMemcpyHostToDevice));
}

double median_ms(const std::function<void()>& fn, cudaStream_t s, int reps = 30) {
  for (int i = 0; i < 3; ++i) fn();
  cudaEvent_t a, b;
  EMBER_CUDA_CHECK(cudaEventCreate(&a));
  EMBER_CUDA_CHECK(cudaEventCreate(&b));
  std::vector<float> t;
  for (int i = 0; i < reps; ++i) {
    EMBER_CUDA_CHECK(cudaEventRecord(a, s));
    fn();
    EMBER_CUDA_CHECK(cudaEventRecord(b, s));
    EMBER_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    EMBER_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    t.push_back(ms);
  }
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

std::vector<Result> results;
void record(const std::string& name, double ms, double bytes, double flops) {
  results.push_back({name, ms, bytes / (ms * 1e-3) / 1e9, flops / (ms * 1e-3) / 1e12});
}

void bench_gemm(cudaStream_t s) {
  GemmLt gemm;
  struct Mnk { int M, N, K; };
  for (Mnk m : {Mnk{1, 4096, 4096}, Mnk{16, 6144, 4096}, Mnk{256, 28672, 4096},
                Mnk{4096, 4096, 4096}}) {
    Buf x(size_t(m.M) * m.K * 2), w(size_t(m.N) * m.K * 2), o(size_t(m.M) * m.N * 2);
    fill_bf16(x);
    fill_bf16(w, 0.02f);
    const double ms = median_ms(
        [&] { gemm.run(x.p, w.p, nullptr, o.p, m.M, m.N, m.K, kBF16, kBF16, s); }, s);
    record("gemm_bf16 M=" + std::to_string(m.M) + " N=" + std::to_string(m.N) +
               " K=" + std::to_string(m.K),
           ms, double(x.bytes + w.bytes + o.bytes), 2.0 * m.M * m.N * m.K);
  }
}

void bench_elementwise(cudaStream_t s) {
  const int T = 256, H = 4096, I = 14336;
  Buf x(size_t(T) * H * 2), r(size_t(T) * H * 2), w(size_t(H) * 2), o(size_t(T) * H * 2);
  fill_bf16(x), fill_bf16(r), fill_bf16(w), fill_bf16(o);
  double ms = median_ms([&] { rmsnorm(x.p, w.p, kBF16, o.p, kBF16, T, H, 1e-5f, s); }, s);
  record("rmsnorm T=256 H=4096", ms, 2.0 * T * H * 2, 0);
  ms = median_ms([&] { add_rmsnorm(r.p, x.p, w.p, kBF16, o.p, kBF16, T, H, 1e-5f, s); }, s);
  record("add_rmsnorm T=256 H=4096", ms, 4.0 * T * H * 2, 0);
  Buf gu(size_t(T) * 2 * I * 2), act(size_t(T) * I * 2);
  fill_bf16(gu);
  ms = median_ms([&] { silu_mul(gu.p, act.p, kBF16, T, I, s); }, s);
  record("silu_mul T=256 I=14336", ms, 3.0 * T * I * 2, 0);

  const int nq = 32, nkv = 8, D = 128, W = (nq + 2 * nkv) * D, bs = 16, blocks = 4096;
  Buf qkv(size_t(T) * W * 2), kc(size_t(blocks) * bs * nkv * D * 2), vc(kc.bytes);
  Buf freq(size_t(D / 2) * 4), pos(size_t(T) * 4), slots(size_t(T) * 4);
  fill_bf16(qkv);
  fill_f32(freq, 1e-4f, 1.f);
  std::vector<int32_t> p(T), sl(T);
  for (int i = 0; i < T; ++i) p[i] = 1000 + i, sl[i] = (i * 37) % (blocks * bs);
  fill_i32(pos, p), fill_i32(slots, sl);
  ms = median_ms([&] {
    rope_store_kv(qkv.p, kBF16, freq.as<float>(), pos.as<int32_t>(), slots.as<int32_t>(), T, nq,
                  nkv, D, kc.p, vc.p, s);
  }, s);
  record("rope_store_kv T=256 32/8x128", ms, double(T) * (W + (nq + nkv) * D + 2 * nkv * D) * 2,
         0);
}

void bench_attention(cudaStream_t s, int num_sms) {
  const int nq = 32, nkv = 8, D = 128, W = (nq + 2 * nkv) * D, bs = 16;
  struct Case { const char* name; int seqs, ctx, q_len; };
  for (Case c : {Case{"decode S=64 ctx=2048", 64, 2048, 1}, Case{"decode S=1 ctx=32768", 1, 32768, 1},
                 Case{"decode S=8 ctx=8192", 8, 8192, 1},
                 Case{"prefill S=4 L=1024", 4, 1024, 1024}}) {
    const int blocks_per = (c.ctx + bs - 1) / bs, blocks = blocks_per * c.seqs;
    const int T = c.seqs * c.q_len;
    Buf qkv(size_t(T) * W * 2), out(size_t(T) * nq * D * 2);
    Buf kc(size_t(blocks) * bs * nkv * D * 2), vc(kc.bytes);
    fill_bf16(qkv), fill_bf16(kc), fill_bf16(vc);
    std::vector<int32_t> info, tables(static_cast<size_t>(blocks));
    for (int sq = 0; sq < c.seqs; ++sq) info.insert(info.end(), {sq * c.q_len, c.q_len, c.ctx});
    for (int i = 0; i < blocks; ++i) tables[size_t(i)] = int32_t((i * 7919) % blocks);
    Buf dinfo(info.size() * 4), dtab(tables.size() * 4);
    fill_i32(dinfo, info), fill_i32(dtab, tables);
    AttnArgs a;
    a.qkv = qkv.p, a.out = out.p, a.k_cache = kc.p, a.v_cache = vc.p;
    a.seq_info = dinfo.as<int32_t>(), a.block_tables = dtab.as<int32_t>();
    a.max_blocks = blocks_per, a.num_seqs = c.seqs, a.max_q_len = c.q_len, a.max_ctx_len = c.ctx;
    a.n_heads = nq, a.n_kv_heads = nkv, a.head_dim = D, a.block_size = bs;
    a.scale = 0.0883883f, a.act = kBF16;
    const double kv_bytes = double(c.seqs) * c.ctx * nkv * D * 2 * 2;
    double ms;
    if (c.q_len == 1) {
      const int splits = decode_num_splits(c.seqs, nkv, nq, c.ctx, num_sms);
      Buf part(std::max<size_t>(4, decode_partials_floats(c.seqs, nq, D, splits) * 4));
      ms = median_ms([&] { attention_decode(a, splits, part.as<float>(), s); }, s);
      record(std::string("attention_") + c.name + " splits=" + std::to_string(splits), ms,
             kv_bytes, 4.0 * c.seqs * nq * D * double(c.ctx));
    } else {
      ms = median_ms([&] { attention_prefill(a, s); }, s, 10);
      record(std::string("attention_") + c.name, ms, kv_bytes + double(T) * (W + nq * D) * 2,
             4.0 * c.seqs * nq * D * double(c.ctx) * c.q_len / 2);
    }
  }
}

void bench_sampling(cudaStream_t s) {
  const int rows = 64, vocab = 128256;
  Buf lg(size_t(rows) * vocab * 4), ids(size_t(rows) * 4);
  fill_f32(lg, -10.f, 10.f);
  double ms = median_ms([&] { argmax(lg.p, kF32, rows, vocab, ids.as<int32_t>(), s); }, s);
  record("argmax R=64 V=128256", ms, double(lg.bytes), 0);
  std::vector<SampleRowParams> p(rows);
  for (int i = 0; i < rows; ++i) p[i] = {0.8f, 0, 0.95f, 0u, uint64_t(i), 3};
  Buf dp(p.size() * sizeof(SampleRowParams));
  EMBER_CUDA_CHECK(cudaMemcpy(dp.p, p.data(), dp.bytes, cudaMemcpyHostToDevice));
  const size_t wsb = sample_workspace_bytes(rows, vocab);
  Buf ws(wsb);
  ms = median_ms([&] {
    sample(lg.p, kF32, rows, vocab, dp.as<SampleRowParams>(), ws.p, wsb, ids.as<int32_t>(), s);
  }, s);
  record("sample top_p=0.95 R=64 V=128256", ms, double(lg.bytes), 0);
}

}  // namespace
}  // namespace ember::cuda

int main(int argc, char** argv) {
  using namespace ember::cuda;
  try {
    cudaDeviceProp prop{};
    EMBER_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
    cudaStream_t s;
    EMBER_CUDA_CHECK(cudaStreamCreate(&s));
    bench_gemm(s);
    bench_elementwise(s);
    bench_attention(s, prop.multiProcessorCount);
    bench_sampling(s);
    EMBER_CUDA_CHECK(cudaDeviceSynchronize());
    std::printf("%-48s %10s %10s %10s\n", "kernel", "ms", "GB/s", "TFLOP/s");
    for (const auto& r : results)
      std::printf("%-48s %10.4f %10.1f %10.2f\n", r.name.c_str(), r.ms, r.gbps, r.tflops);
    if (argc > 1) {
      FILE* f = std::fopen(argv[1], "w");
      if (!f) {
        std::fprintf(stderr, "cannot write %s\n", argv[1]);
        return 1;
      }
      std::fprintf(f, "{\n  \"device\": \"%s\",\n  \"sms\": %d,\n  \"results\": [\n", prop.name,
                   prop.multiProcessorCount);
      for (size_t i = 0; i < results.size(); ++i)
        std::fprintf(f, "    {\"name\": \"%s\", \"ms\": %.6f, \"gbps\": %.2f, \"tflops\": %.3f}%s\n",
                     results[i].name.c_str(), results[i].ms, results[i].gbps, results[i].tflops,
                     i + 1 < results.size() ? "," : "");
      std::fprintf(f, "  ]\n}\n");
      std::fclose(f);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_kernels_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
