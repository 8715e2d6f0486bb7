#include "engine/cpu/cpu_backend.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

#include <cstdlib>
#include <cstring>

#include "engine/core/error.h"
#include "engine/core/host_memory.h"
#include "engine/cpu/cpu_kernels.h"
#include "engine/dist/communicator.h"
#include "engine/sample/sample_rows.h"

namespace ember {
namespace {

std::shared_ptr<void> aligned_bytes(size_t n) {
  std::shared_ptr<void> p = alloc_host_buffer(n);
  std::memset(p.get(), 0, n);
  return p;
}

Tensor host_i32(std::shared_ptr<std::vector<int32_t>> v, Shape shape) {
  Tensor t;
  t.data = v->data();
  t.dtype = DType::I32;
  t.shape = std::move(shape);
  t.owner = std::move(v);
  return t;
}

// Borrows host memory the caller keeps alive for the step.
Tensor borrow_i32(const std::vector<int32_t>& v) {
  Tensor t;
  t.data = const_cast<int32_t*>(v.data());
  t.dtype = DType::I32;
  t.shape = {int64_t(v.size())};
  return t;
}

class CpuBackend final : public Backend {
 public:
  explicit CpuBackend(const CpuBackendOptions& o) : pool_(o.threads) {
    ctx_.pool = &pool_;
    ctx_.isa = o.allow_simd && cpu_has_avx2() ? cpu::Isa::Avx2 : cpu::Isa::Scalar;
    ctx_.bf16_matmul_inputs = o.bf16_matmul_inputs;
  }

  std::string name() const override {
    const bool avx2 = ctx_.isa == cpu::Isa::Avx2;
    std::string isa = avx2 ? "avx2" : "scalar";
    // The dot-product kernel runs where matmul_panels picks it: AVX2 allowed and AVX-512 BF16.
    if (ctx_.bf16_matmul_inputs)
      isa += avx2 && cpu::cpu_has_avx512_bf16() ? ", avx512-bf16 matmul inputs"
                                                : ", bf16 matmul inputs";
    return fmt::format("cpu ({} threads, {})", pool_.size(), isa);
  }
  DType activation_dtype() const override { return DType::F32; }

  Tensor alloc(DType dtype, const Shape& shape) override {
    Tensor t;
    t.dtype = dtype;
    t.shape = shape;
    for (auto d : shape)
      if (d < 0) fail("cpu alloc: negative dimension {}", d);
    t.owner = aligned_bytes(t.nbytes());
    t.data = t.owner.get();
    return t;
  }

  Tensor upload(const void* data, DType dtype, const Shape& shape, bool borrowable) override {
    if (borrowable) {
      Tensor t;
      t.data = const_cast<void*>(data);
      t.dtype = dtype;
      t.shape = shape;
      return t;
    }
    Tensor t = alloc(dtype, shape);
    if (t.nbytes()) std::memcpy(t.data, data, t.nbytes());
    return t;
  }

  void download(const Tensor& src, void* dst) override {
    if (src.nbytes()) std::memcpy(dst, src.data, src.nbytes());
  }

  StepTensors upload_step(const StepInput& in) override {
    const int T = in.num_tokens();
    if (int(in.positions.size()) != T || int(in.slot_mapping.size()) != T)
      fail("step: {} tokens but {} positions and {} slots", T, in.positions.size(),
           in.slot_mapping.size());
    StepTensors s;
    s.host = &in;
    s.num_tokens = T;
    s.num_seqs = int(in.seqs.size());
    int64_t rows = 0;
    for (const auto& q : in.seqs) {
      if (q.q_len < 0 || q.ctx_len < q.q_len)
        fail("step: sequence with q_len {} and ctx_len {}", q.q_len, q.ctx_len);
      rows += q.q_len;
      s.max_blocks_per_seq = std::max(s.max_blocks_per_seq, int(q.block_table.size()));
      s.max_q_len = std::max(s.max_q_len, q.q_len);
      s.max_ctx_len = std::max(s.max_ctx_len, q.ctx_len);
    }
    if (rows != T) fail("step: sequences hold {} tokens, the step has {}", rows, T);
    for (int32_t r : in.logit_rows)
      if (r < 0 || r >= T) fail("step: logit row {} outside [0, {})", r, T);
    s.tokens = borrow_i32(in.tokens);
    s.positions = borrow_i32(in.positions);
    s.slot_mapping = borrow_i32(in.slot_mapping);
    s.logit_rows = borrow_i32(in.logit_rows);
    auto info = std::make_shared<std::vector<int32_t>>();
    auto tables = std::make_shared<std::vector<int32_t>>(
        size_t(s.num_seqs) * size_t(s.max_blocks_per_seq), -1);
    int32_t start = 0;
    for (int i = 0; i < s.num_seqs; ++i) {
      const auto& q = in.seqs[size_t(i)];
      info->insert(info->end(), {start, q.q_len, q.ctx_len});
      std::copy(q.block_table.begin(), q.block_table.end(),
                tables->begin() + int64_t(i) * s.max_blocks_per_seq);
      start += q.q_len;
    }
    s.seq_info = host_i32(info, {s.num_seqs, 3});
    s.block_tables = host_i32(tables, {s.num_seqs, s.max_blocks_per_seq});
    return s;
  }

  size_t kv_memory_available() const override { return host_memory_available(); }

  KvCache alloc_kv_cache(const KvCacheSpec& spec) override {
    if (spec.dtype != DType::F32 && spec.dtype != DType::BF16)
      fail("cpu backend: the KV cache must be F32 or BF16, not {}", dtype_name(spec.dtype));
    if (spec.num_layers <= 0 || spec.num_blocks <= 0 || spec.block_size <= 0 ||
        spec.num_kv_heads <= 0 || spec.head_dim <= 0)
      fail("cpu backend: invalid KV cache spec ({} layers, {} blocks of {})", spec.num_layers,
           spec.num_blocks, spec.block_size);
    KvCache kv;
    kv.spec = spec;
    const Shape shape{spec.num_blocks, spec.block_size, spec.num_kv_heads, spec.head_dim};
    // Every layer's K and V pool in one buffer, left untouched: its pages become resident as
    // blocks are first written (attention reads only positions already written), so RSS follows
    // the cache in use rather than its budget. One buffer also rounds up to a huge page once,
    // where 2 x layers pools of a small model (2.2 MB each) would each take two.
    const size_t pool_bytes = (size_t(spec.num_blocks) * size_t(spec.block_size) *
                                   size_t(spec.num_kv_heads) * size_t(spec.head_dim) *
                                   dtype_size(spec.dtype) + 63) / 64 * 64;
    std::shared_ptr<void> buffer = alloc_host_buffer(pool_bytes * 2 * size_t(spec.num_layers));
    auto* base = static_cast<uint8_t*>(buffer.get());
    for (size_t i = 0; i < 2 * size_t(spec.num_layers); ++i) {
      Tensor t;
      t.owner = buffer;
      t.data = base + i * pool_bytes;
      t.dtype = spec.dtype;
      t.shape = shape;
      (i % 2 == 0 ? kv.k : kv.v).push_back(std::move(t));
    }
    return kv;
  }

  void copy_kv_blocks(KvCache& kv,
                      std::span<const std::pair<int32_t, int32_t>> src_dst) override {
    check_kv_block_copies(kv.spec, src_dst);
    const auto& s = kv.spec;
    const size_t block_bytes =
        size_t(s.block_size) * size_t(s.num_kv_heads) * size_t(s.head_dim) * dtype_size(s.dtype);
    for (int l = 0; l < s.num_layers; ++l)
      for (Tensor* pool : {&kv.k[size_t(l)], &kv.v[size_t(l)]}) {
        auto* base = static_cast<uint8_t*>(pool->data);
        for (const auto& [src, dst] : src_dst)
          if (src != dst)
            std::memcpy(base + size_t(dst) * block_bytes, base + size_t(src) * block_bytes,
                        block_bytes);
      }
  }

  void embed(const Tensor& table, const StepTensors& step, Tensor& out) override {
    cpu::embed(ctx_, table, step, 0, table.shape.empty() ? 0 : table.shape[0], out);
  }
  void embed_shard(const Tensor& table, const StepTensors& step, int64_t first_id, int64_t vocab,
                   Tensor& out) override {
    cpu::embed(ctx_, table, step, first_id, vocab, out);
  }
  void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& out) override {
    cpu::rmsnorm(ctx_, x, w, eps, out);
  }
  void add_rmsnorm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                   Tensor& out) override {
    cpu::add_rmsnorm(ctx_, residual, x, w, eps, out);
  }
  Tensor prepare_matmul_weight(const Tensor& w, const RowsConsumed& consumed) override {
    return cpu::pack_bf16_panels(ctx_, w, consumed);
  }
  void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) override {
    cpu::matmul(ctx_, x, w, bias, out);
  }
  void qk_rmsnorm(Tensor& qkv, const Tensor& q_w, const Tensor& k_w, float eps,
                  const AttnShape& a) override {
    cpu::qk_rmsnorm(ctx_, qkv, q_w, k_w, eps, a);
  }
  void rope_and_store_kv(Tensor& qkv, const Tensor& inv_freq, const StepTensors& step,
                         const AttnShape& a, KvCache& kv, int layer) override {
    cpu::rope_and_store_kv(ctx_, qkv, inv_freq, step, a, kv, layer);
  }
  void paged_attention(const Tensor& qkv, const KvCache& kv, int layer, const StepTensors& step,
                       const AttnShape& a, Tensor& out) override {
    cpu::paged_attention(ctx_, qkv, kv, layer, step, a, out);
  }
  void silu_mul(const Tensor& gate_up, Tensor& out) override { cpu::silu_mul(ctx_, gate_up, out); }
  void gelu_tanh_mul(const Tensor& gate_up, Tensor& out) override {
    cpu::gelu_tanh_mul(ctx_, gate_up, out);
  }
  void scale(Tensor& x, float s) override { cpu::scale(ctx_, x, s); }
  void softcap(Tensor& x, float cap) override { cpu::softcap(ctx_, x, cap); }
  void all_reduce(Tensor& x) override {
    if (comm_) comm_->all_reduce_sum(x.data, x.dtype, size_t(x.numel()));
  }
  void gather_rows(const Tensor& x, const StepTensors& step, Tensor& out) override {
    cpu::gather_rows(ctx_, x, step, out);
  }
  void add_layernorm(Tensor& x, const Tensor* y, const Tensor& w, const Tensor& b,
                     float eps) override {
    cpu::add_layernorm(ctx_, x, y, w, b, eps);
  }
  void gelu_erf(Tensor& x) override { cpu::gelu_erf(ctx_, x); }
  void encoder_attention(const Tensor& qkv, const StepTensors& step, const AttnShape& a,
                         const Tensor* rel_bias, Tensor& out) override {
    cpu::encoder_attention(ctx_, qkv, step, a, rel_bias, out);
  }
  // The logits are already host memory: no copy, and the rows go to the backend's own threads.
  void sample(const Tensor& logits, std::span<const RowSampling> rows, SamplerSlots& slots,
              std::span<SampledRow> out) override {
    if (logits.dtype != DType::F32 || logits.shape.size() != 2)
      fail("cpu sample: logits must be F32 [rows, vocab]");
    sample_rows(static_cast<const float*>(logits.data), logits.shape[0], int(logits.shape[1]),
                rows, slots, out, [this](int64_t n, const std::function<void(int64_t)>& fn) {
                  pool_.run(n, fn);
                });
  }

 private:
  ThreadPool pool_;
  cpu::Ctx ctx_;
};

}  // namespace

bool cpu_has_avx512_bf16() { return cpu::cpu_has_avx512_bf16(); }

std::unique_ptr<Backend> make_cpu_backend(int threads) {
  CpuBackendOptions o;
  o.threads = threads;
  return make_cpu_backend(o);
}

std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options) {
  return std::make_unique<CpuBackend>(options);
}

}  // namespace ember
