#pragma once
// Internal to the CPU backend: the op implementations, each taking the pool and the instruction
// set chosen at backend construction. cpu_backend.cc adapts them to the Backend interface.
#include "engine/cpu/thread_pool.h"
#include "engine/model/backend.h"

namespace ember::cpu {

enum class Isa { Scalar, Avx2 };

struct Ctx {
  ThreadPool* pool = nullptr;
  Isa isa = Isa::Scalar;
  bool bf16_matmul_inputs = false;  // CpuBackendOptions::bf16_matmul_inputs
};

// Splits [0, n) into about `parts` contiguous chunks of at least `grain` items and runs
// fn(begin, end) on each across the pool.
void parallel_ranges(const Ctx& c, int64_t n, int64_t grain,
                     const std::function<void(int64_t, int64_t)>& fn);

void matmul(const Ctx& c, const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out);
// engine/cpu/cpu_matmul_panels.cc: bf16 weights packed in 16-row panels (TensorLayout), and the
// matmul over them. pack_bf16_panels returns w unchanged when it does not apply.
// `consumed(rows)` hears, slab by slab, that rows [0, rows) of w have been read.
// engine/cpu/cpu_matmul_bf16dot.cc: the same panels with x rounded to bf16 and AVX-512 BF16
// dot products (only where cpu_has_avx512_bf16()).
bool cpu_has_avx512_bf16();
void matmul_panels_bf16dot(const Ctx& c, const Tensor& x, const Tensor& w, const float* bias,
                           Tensor& out);
Tensor pack_bf16_panels(const Ctx& c, const Tensor& w,
                        const std::function<void(int64_t)>& consumed = {});
void matmul_panels(const Ctx& c, const Tensor& x, const Tensor& w, const float* bias,
                   Tensor& out);
void rmsnorm(const Ctx& c, const Tensor& x, const Tensor& w, float eps, Tensor& out);
void add_rmsnorm(const Ctx& c, Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                 Tensor& out);
void qk_rmsnorm(const Ctx& c, Tensor& qkv, const Tensor& q_w, const Tensor& k_w, float eps,
                const AttnShape& a);
void rope_and_store_kv(const Ctx& c, Tensor& qkv, const Tensor& inv_freq, const StepTensors& step,
                       const AttnShape& a, KvCache& kv, int layer);
void paged_attention(const Ctx& c, const Tensor& qkv, const KvCache& kv, int layer,
                     const StepTensors& step, const AttnShape& a, Tensor& out);
// first_id, vocab: Backend::embed_shard's (0 and the table's rows for the whole embedding).
void embed(const Ctx& c, const Tensor& table, const StepTensors& step, int64_t first_id,
           int64_t vocab, Tensor& out);
void silu_mul(const Ctx& c, const Tensor& gate_up, Tensor& out);
void gelu_tanh_mul(const Ctx& c, const Tensor& gate_up, Tensor& out);
void scale(const Ctx& c, Tensor& x, float s);
void softcap(const Ctx& c, Tensor& x, float cap);
void gather_rows(const Ctx& c, const Tensor& x, const StepTensors& step, Tensor& out);
// engine/cpu/cpu_encoder.cc: the encoder ops (Backend::add_layernorm, gelu_erf,
// encoder_attention).
void add_layernorm(const Ctx& c, Tensor& x, const Tensor* y, const Tensor& w, const Tensor& b,
                   float eps);
void gelu_erf(const Ctx& c, Tensor& x);
void encoder_attention(const Ctx& c, const Tensor& qkv, const StepTensors& step,
                       const AttnShape& a, const Tensor* rel_bias, Tensor& out);

// Converts n elements of a weight vector (any float dtype) to f32.
void to_f32(const Tensor& t, int64_t offset, int64_t n, float* dst);

}  // namespace ember::cpu
