#pragma once
// One forward step over a batch of sequences, each contributing a chunk of new tokens
// (a prefill chunk, or one token when decoding), with its paged KV block table.
#include <cstdint>
#include <span>
#include <vector>

#include "engine/model/tensor.h"

namespace ember {

struct SeqStep {
  int q_len = 0;    // new tokens of this sequence in this step (its rows are consecutive)
  int ctx_len = 0;  // tokens in its KV cache after this step: past tokens + q_len
  std::vector<int32_t> block_table;  // KV block ids covering positions [0, ctx_len)
};

struct StepInput {
  std::vector<int32_t> tokens;        // [T], sequences concatenated in `seqs` order
  std::vector<int32_t> positions;     // [T], position of each token in its sequence
  std::vector<int32_t> slot_mapping;  // [T], block_id * block_size + offset where its K/V go
  std::vector<SeqStep> seqs;
  std::vector<int32_t> logit_rows;    // rows of [T] whose logits the caller wants, in order

  int num_tokens() const { return int(tokens.size()); }
  // Appends one sequence's chunk: tokens at positions [start_pos, start_pos + ids.size()),
  // KV slots derived from the block table; optionally asks for the logits of its last token.
  void add_sequence(const std::vector<int32_t>& ids, int start_pos,
                    const std::vector<int32_t>& block_table, int block_size, bool want_logits);
  // `table_storage`: a vector whose capacity the sequence's copy of the block table reuses.
  void add_sequence(std::span<const int32_t> ids, int start_pos,
                    std::span<const int32_t> block_table, int block_size, bool want_logits,
                    std::vector<int32_t> table_storage = {});
};

// The step as the backend's ops read it. Host-side fields are always valid; the tensors hold
// device copies (on the CPU backend they alias host memory).
struct StepTensors {
  const StepInput* host = nullptr;
  int num_tokens = 0, num_seqs = 0, max_blocks_per_seq = 0, max_q_len = 0, max_ctx_len = 0;
  Tensor tokens;        // I32 [T]
  Tensor positions;     // I32 [T]
  Tensor slot_mapping;  // I32 [T]
  Tensor seq_info;      // I32 [S, 3]: q_start, q_len, ctx_len
  Tensor block_tables;  // I32 [S, max_blocks_per_seq], padded with -1
  Tensor logit_rows;    // I32 [R]
};

// Per-layer K and V pools of fixed-size blocks: [num_blocks, block_size, num_kv_heads, head_dim].
struct KvCacheSpec {
  int num_layers = 0, num_blocks = 0, block_size = 16, num_kv_heads = 0, head_dim = 0;
  DType dtype = DType::F32;
  size_t bytes() const {
    return size_t(2) * num_layers * num_blocks * block_size * num_kv_heads * head_dim *
           dtype_size(dtype);
  }
};

struct KvCache {
  KvCacheSpec spec;
  std::vector<Tensor> k, v;  // one per layer
};

}  // namespace ember
