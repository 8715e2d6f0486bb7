#pragma once
// MPNet's relative position buckets (as transformers' MPNetAttention computes them, after T5):
// half the buckets for keys before the query, half for keys after; within each half, exact
// buckets for distances below a quarter of the buckets, then logarithmic up to max_distance.
#include <vector>

namespace ember {

// The bucket of relative position `rel` = key index - query index.
int relative_position_bucket(int rel, int num_buckets = 32, int max_distance = 128);

// The bias table encoder_attention reads: [n_heads, 2 * max_len - 1], entry (h, rel + max_len - 1)
// = table[bucket(rel)][h], from MPNet's relative_attention_bias weight [num_buckets, n_heads].
std::vector<float> relative_bias_table(const std::vector<float>& bucket_weights, int num_buckets,
                                       int n_heads, int max_len);

}  // namespace ember
