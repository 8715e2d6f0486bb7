#pragma once
// Host launchers of the CUDA kernels, one group per kernel file. Plain C++ (no device code), so
// the backend (cuda_backend.cc), the benches and the tests call them from .cc files.
//
// Activation type `act` is 0 (fp32) or 2 (bf16), numbered as ember::DType; weights may be fp32,
// fp16 or bf16 (`w_dtype`). Every launcher checks the launch and throws ember::Error on failure.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace ember::cuda {

// Element types as numbered by ember::DType (engine/core/dtype.h; checked in cuda_backend.cc).
enum DTypeCode : int { kF32 = 0, kF16 = 1, kBF16 = 2 };

// embed_gather.cu ---------------------------------------------------------------------------
// out[t, :] = table[tokens[t] - first_id, :] converted to `act`, zero where that row is outside
// [0, table_rows) (a tensor-parallel rank's slice of the vocabulary).
void embed(const void* table, int table_dtype, int hidden, int64_t first_id, int64_t table_rows,
           const int32_t* tokens, int num_tokens, void* out, int act, cudaStream_t s);
// out[i, :] = x[rows[i], :] (bytes copied as they are).
void gather_rows(const void* x, size_t row_bytes, const int32_t* rows, int num_rows, void* out,
                 cudaStream_t s);
// dst[i] = src[i] between float dtypes (fp32, fp16, bf16); rounds to nearest even.
void convert(const void* src, int src_dtype, void* dst, int dst_dtype, int64_t n, cudaStream_t s);

// norm.cu -----------------------------------------------------------------------------------
// out = x / sqrt(mean(x^2) + eps) * w, per row; fp32 arithmetic, one rounding at the store.
void rmsnorm(const void* x, const void* w, int w_dtype, void* out, int act, int rows, int cols,
             float eps, cudaStream_t s);
// residual += x (stored in `act`), then out = rmsnorm(residual) * w in the same pass. The norm
// reads the stored (rounded) residual so that the next layer sees what the norm saw.
void add_rmsnorm(void* residual, const void* x, const void* w, int w_dtype, void* out, int act,
                 int rows, int cols, float eps, cudaStream_t s);
// In place on the q heads (n_heads) and k heads (n_kv_heads) of each qkv row.
void qk_rmsnorm(void* qkv, const void* q_w, const void* k_w, int w_dtype, int act,
                int num_tokens, int n_heads, int n_kv_heads, int head_dim, float eps,
                cudaStream_t s);

// rope_kv.cu --------------------------------------------------------------------------------
// Rotate-half RoPE on q and k in place (angle = float(pos) * inv_freq[i], fp32), then k and v
// of token t go to slot slots[t] of the caches ([slots, n_kv_heads, head_dim], type `act`);
// a negative slot stores nothing.
void rope_store_kv(void* qkv, int act, const float* inv_freq, const int32_t* positions,
                   const int32_t* slots, int num_tokens, int n_heads, int n_kv_heads,
                   int head_dim, void* k_cache, void* v_cache, cudaStream_t s);

// gated_mlp.cu ------------------------------------------------------------------------------
// out[t, i] = silu(gate_up[t, i]) * gate_up[t, inter + i]
void silu_mul(const void* gate_up, void* out, int act, int num_tokens, int inter,
              cudaStream_t s);
// out[t, i] = gelu_tanh(gate_up[t, i]) * gate_up[t, inter + i] (Gemma's GeGLU)
void gelu_tanh_mul(const void* gate_up, void* out, int act, int num_tokens, int inter,
                   cudaStream_t s);

// scale_softcap.cu --------------------------------------------------------------------------
// x[i] *= factor, in place, x of type `act`.
void scale(void* x, int act, int64_t n, float factor, cudaStream_t s);
// x[i] = cap * tanh(x[i] / cap), in place, fp32 (logits).
void softcap(float* x, int64_t n, float cap, cudaStream_t s);

// attention_prefill.cu / attention_decode.cu -------------------------------------------------
struct AttnArgs {
  const void* qkv = nullptr;  // [T, (nq + 2 nkv) * D], type act
  void* out = nullptr;        // [T, nq * D], type act
  const void* k_cache = nullptr;  // [num_blocks, block_size, nkv, D], type act
  const void* v_cache = nullptr;
  const int32_t* seq_info = nullptr;      // [S, 3]: q_start, q_len, ctx_len
  const int32_t* block_tables = nullptr;  // [S, max_blocks]
  int max_blocks = 0, num_seqs = 0, max_q_len = 0, max_ctx_len = 0;
  int n_heads = 0, n_kv_heads = 0, head_dim = 0, block_size = 0;
  float scale = 1.f;
  float softcap = 0.f;  // 0: none; else score = softcap * tanh(score / softcap), after scale
  int window = 0;  // 0: whole context; else key j is seen by query at p when p - j < window
  int act = 2;
};
// Causal attention for sequences with any q_len (chunked prefill mixed with decode): tiles of
// queries against tiles of keys with an online softmax. head_dim must be even and <= 256.
void attention_prefill(const AttnArgs& a, cudaStream_t s);
// One query per sequence (every q_len <= 1; a sequence with none is skipped). The context is split into `num_splits` parts
// whose partial results go to `partials` (num_seqs * n_heads * num_splits * (head_dim + 2)
// floats) and are merged by a second kernel; num_splits == 1 writes out directly.
int decode_num_splits(int num_seqs, int n_kv_heads, int n_heads, int max_ctx_len, int num_sms);
size_t decode_partials_floats(int num_seqs, int n_heads, int head_dim, int num_splits);
void attention_decode(const AttnArgs& a, int num_splits, float* partials, cudaStream_t s);

// sampling.cu -------------------------------------------------------------------------------
// ids[r] = the first index of the largest logit in row r.
void argmax(const void* logits, int dtype, int rows, int vocab, int32_t* ids, cudaStream_t s);

struct SampleRowParams {
  float temperature = 1.f;  // <= 0: greedy
  int top_k = 0;            // 0: no limit
  float top_p = 1.f;        // >= 1: no limit
  uint32_t index = 0;  // completion index of the request (part of the Philox counter)
  uint64_t seed = 0;
  uint64_t step = 0;  // tokens generated so far: the draw is fixed by (seed, step, index)
};
// Scratch the sampler needs for `rows` x `vocab` (bytes), allocated once by the caller.
size_t sample_workspace_bytes(int rows, int vocab);
// Per row, as engine/sample/sampler.cc does it: softmax(logits / temperature) in (p desc,
// id asc) order, keep the top_k first, then the shortest prefix with mass >= top_p, and take
// the first kept id whose cumulative mass exceeds u * kept mass, u = philox_uniform(seed,
// step, index, 0) (kernels/philox.h). `params` is a device array of `rows` entries.
void sample(const void* logits, int dtype, int rows, int vocab, const SampleRowParams* params,
            void* workspace, size_t workspace_bytes, int32_t* ids, cudaStream_t s);

// logprobs.cu -------------------------------------------------------------------------------
constexpr int kMaxTopLogprobs = 20;
// Per row of fp32 logits [rows, vocab], as engine/sample/logprobs.cc's RowLogprobs at
// temperature 1: chosen[r] = the logprob of ids[r]; top_ids / top_lp [rows, k] = the k most
// likely ids (NaN logits left out; ties by ascending id) and their logprobs, -1 / -inf past
// the row's end. k in [0, kMaxTopLogprobs].
void top_logprobs(const float* logits, int rows, int vocab, const int32_t* ids, int k,
                  float* chosen, int32_t* top_ids, float* top_lp, cudaStream_t s);

// logit_edits.cu ----------------------------------------------------------------------------
// One id's edits of a logit row (engine/sample's order): kEditMask sets -inf (min_tokens),
// kEditBias adds `bias`, kEditSeen applies the row's repetition penalty, count > 0 subtracts
// presence + frequency * count.
enum : uint32_t { kEditMask = 1, kEditBias = 2, kEditSeen = 4 };
struct LogitEdit {
  int32_t id = 0;
  uint32_t flags = 0;
  float bias = 0.f;
  int32_t count = 0;
};
struct RowPenalties {
  float repetition = 1.f, presence = 0.f, frequency = 0.f;
};
// In place on fp32 logits [rows, vocab]: row r gets edits [offsets[r], offsets[r + 1]), at most
// one per id. All pointers are device memory.
void apply_logit_edits(float* logits, int rows, int vocab, const int32_t* offsets,
                       const LogitEdit* edits, const RowPenalties* row_penalties,
                       cudaStream_t s);

}  // namespace ember::cuda
