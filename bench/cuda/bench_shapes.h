#pragma once
// The model shapes the kernel benches sweep: real architectures (bench/configs/*.json), and
// Llama-3-70B as one GPU's shard at TP=8 (heads and intermediate split, embedding replicated).
#include <string>
#include <vector>

namespace ember::bench {

struct ModelShape {
  std::string name;
  int hidden, n_heads, n_kv_heads, head_dim, inter, vocab;
  int qkv_width() const { return (n_heads + 2 * n_kv_heads) * head_dim; }
};

inline const std::vector<ModelShape>& model_shapes() {
  static const std::vector<ModelShape> m{
      {"llama-3-8b", 4096, 32, 8, 128, 14336, 128256},
      {"qwen2.5-7b", 3584, 28, 4, 128, 18944, 152064},
      {"mistral-7b", 4096, 32, 8, 128, 14336, 32768},
      {"llama-3-70b-tp8", 8192, 64 / 8, 8 / 8, 128, 28672 / 8, 128256},
  };
  return m;
}

// Batch sizes and context lengths of the sweep (decode batches are the CUDA-graph buckets).
inline const std::vector<int>& decode_batches() {
  static const std::vector<int> b{1, 2, 4, 8, 16, 32, 64, 128, 256};
  return b;
}
inline const std::vector<int>& contexts() {
  static const std::vector<int> c{128, 512, 2048, 8192};
  return c;
}

}  // namespace ember::bench
