#pragma once
// The op set. The transformer (transformer.cc) is written once against this interface; the CPU
// backend is the reference every other backend is tested against. Fused ops (add_rmsnorm,
// rope_and_store_kv, silu_mul, gelu_tanh_mul) are part of the set, so every backend computes the same function.
//
// Conventions: activations are 2-D [rows, cols] in activation_dtype(); weights keep their file
// dtype; matmul weights are [out, in] as in the checkpoints (out = x · wᵀ); accumulation is fp32.
// The fused QKV activation is [T, (n_heads + 2 * n_kv_heads) * head_dim]: q, then k, then v.
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <utility>

#include "engine/model/step.h"
#include "engine/model/tensor.h"
#include "engine/sample/row_sampling.h"

namespace ember {

class Communicator;  // engine/dist/communicator.h
class SamplerSlots;  // engine/sample/sampler_slots.h

struct AttnShape {
  int n_heads = 0, n_kv_heads = 0, head_dim = 0;
  float scale = 1.f;       // softmax scale, 1/sqrt(head_dim) unless the model says otherwise
  int sliding_window = 0;  // 0: attend to the whole context
  float logit_softcap = 0.f;  // 0: none; else score = cap * tanh(score * scale / cap) (Gemma 2)
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  virtual DType activation_dtype() const = 0;

  // Memory. upload() copies host data (dtype kept); a backend may alias instead when
  // `borrowable` is set and the memory outlives it (the CPU backend aliases mapped weights).
  virtual Tensor alloc(DType dtype, const Shape& shape) = 0;
  virtual Tensor upload(const void* data, DType dtype, const Shape& shape, bool borrowable) = 0;
  virtual void download(const Tensor& src, void* dst) = 0;
  virtual StepTensors upload_step(const StepInput& step) = 0;
  virtual KvCache alloc_kv_cache(const KvCacheSpec& spec) = 0;
  // Bytes the KV cache may take now when no explicit budget is given (the caller applies its
  // fraction): host MemAvailable on the CPU; on a GPU, its memory budget less what is in use.
  virtual size_t kv_memory_available() const = 0;

  // out[t] = table[tokens[t]]
  virtual void embed(const Tensor& table, const StepTensors& step, Tensor& out) = 0;
  // A tensor-parallel rank's share of the embedding: `table` holds the rows of ids
  // [first_id, first_id + rows); out[t] = table[tokens[t] - first_id] for the tokens in it and
  // zero for the others (the all_reduce that follows adds the rank that holds them). Ids
  // outside [0, vocab) fail.
  virtual void embed_shard(const Tensor& table, const StepTensors& step, int64_t first_id,
                           int64_t vocab, Tensor& out) = 0;
  // out = x / rms(x) * w, per row
  virtual void rmsnorm(const Tensor& x, const Tensor& w, float eps, Tensor& out) = 0;
  // residual += x; out = rmsnorm(residual) * w
  virtual void add_rmsnorm(Tensor& residual, const Tensor& x, const Tensor& w, float eps,
                           Tensor& out) = 0;
  // out[T, N] = x[T, K] · w[N, K]ᵀ (+ bias[N])
  virtual void matmul(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& out) = 0;
  // A weight [N, K] as this backend's matmul reads it fastest, for weights used only by matmul
  // (the loader prepares each projection once). The default keeps it as it is. Idempotent: a
  // prepared weight comes back unchanged. `consumed(rows)`, when given, hears as the backend
  // finishes reading rows [0, rows) of w for a copy, so that the loader can drop a large
  // weight's mapped pages while it is being prepared rather than after.
  using RowsConsumed = std::function<void(int64_t rows)>;
  virtual Tensor prepare_matmul_weight(const Tensor& w, const RowsConsumed& consumed) {
    (void)consumed;
    return w;
  }
  Tensor prepare_matmul_weight(const Tensor& w) { return prepare_matmul_weight(w, {}); }
  // In place on the q and k parts of qkv: RMSNorm over each head (Qwen3).
  virtual void qk_rmsnorm(Tensor& qkv, const Tensor& q_w, const Tensor& k_w, float eps,
                          const AttnShape& a) = 0;
  // Rotates q and k in place (rotate-half convention, angle = position * inv_freq[i] in fp32)
  // and writes k and v of every token into its KV slot of `layer`.
  virtual void rope_and_store_kv(Tensor& qkv, const Tensor& inv_freq, const StepTensors& step,
                                 const AttnShape& a, KvCache& kv, int layer) = 0;
  // Causal attention of each token's q over its sequence's cached K/V up to its own position.
  // out is [T, n_heads * head_dim].
  virtual void paged_attention(const Tensor& qkv, const KvCache& kv, int layer,
                               const StepTensors& step, const AttnShape& a, Tensor& out) = 0;
  // out[T, I] = silu(gate_up[:, :I]) * gate_up[:, I:]
  virtual void silu_mul(const Tensor& gate_up, Tensor& out) = 0;
  // out[T, I] = gelu_tanh(gate_up[:, :I]) * gate_up[:, I:], GELU with the tanh approximation
  // (Gemma's gelu_pytorch_tanh)
  virtual void gelu_tanh_mul(const Tensor& gate_up, Tensor& out) = 0;
  // x *= s in place (Gemma scales the embedding by sqrt(hidden_size))
  virtual void scale(Tensor& x, float s) = 0;
  // x = cap * tanh(x / cap) in place, on F32 logits (Gemma 2's final soft-capping)
  virtual void softcap(Tensor& x, float cap) = 0;
  // Sum over tensor-parallel ranks through the communicator (identity without one: TP=1).
  virtual void all_reduce(Tensor& x) = 0;
  // The rank's communicator (not owned; it outlives the backend's use of it), set by the
  // tensor-parallel runner before the first step.
  void set_communicator(Communicator* c) { comm_ = c; }
  Communicator* communicator() const { return comm_; }
  // out[i] = x[logit_rows[i]]
  virtual void gather_rows(const Tensor& x, const StepTensors& step, Tensor& out) = 0;
  // The draw of each row (engine/sample/row_sampling.h) from `logits` (F32 [R, vocab], as
  // Transformer::forward_device leaves it), with the logprobs it asks for, every transform of
  // engine/sample/sampler.h and the same Philox stream on every backend; each draw is appended
  // to its slot. Only the results leave the device. A row whose draw fails gets its error and
  // id -1; the others are drawn. The default downloads the logits and samples on the host.
  virtual void sample(const Tensor& logits, std::span<const RowSampling> rows,
                      SamplerSlots& slots, std::span<SampledRow> out);

  // Copy-on-write of shared KV blocks (n > 1 completions): for each (src, dst) pair, block dst
  // of every layer's K and V pool becomes a copy of block src. Pairs are applied in order; a
  // bad block id fails before anything is copied.
  virtual void copy_kv_blocks(KvCache& kv,
                              std::span<const std::pair<int32_t, int32_t>> src_dst) = 0;

  // Encoder ops (BERT-family sentence encoders, engine/encoder). Not pure: a backend without
  // them fails when an encoder runs on it (engine/model/encoder_ops.cc).
  //
  // x = LayerNorm(x + y) per row, in place (y optional): (v - mean) / sqrt(var + eps) * w + b,
  // in fp32 with the biased variance, as torch.nn.LayerNorm computes it.
  virtual void add_layernorm(Tensor& x, const Tensor* y, const Tensor& w, const Tensor& b,
                             float eps);
  // x = x * (1 + erf(x / sqrt(2))) / 2 in place: the exact GELU (BERT's "gelu").
  virtual void gelu_erf(Tensor& x);
  // Bidirectional attention: each token's q over the k and v of every token of its own
  // sequence (step.seq_info's q_start and q_len; no KV cache, no mask, no padding). qkv is the
  // fused [T, 3 * n_heads * head_dim] (n_kv_heads = n_heads); out is [T, n_heads * head_dim].
  // With rel_bias [n_heads, 2 * step.max_q_len - 1] (F32), the score of query i and key j of a
  // sequence gains rel_bias[h, j - i + max_q_len - 1] after scaling (MPNet's relative
  // position bias).
  virtual void encoder_attention(const Tensor& qkv, const StepTensors& step, const AttnShape& a,
                                 const Tensor* rel_bias, Tensor& out);

 protected:
  Communicator* comm_ = nullptr;
};

// Throws ember::Error naming the first (src, dst) block id outside [0, kv.spec.num_blocks).
void check_kv_block_copies(const KvCacheSpec& spec,
                           std::span<const std::pair<int32_t, int32_t>> src_dst);

}  // namespace ember
