#include "engine/encoder/relative_position.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace ember {

int relative_position_bucket(int rel, int num_buckets, int max_distance) {
  int ret = 0;
  int n = -rel;
  num_buckets /= 2;
  if (n < 0) ret += num_buckets;
  n = std::abs(n);
  const int max_exact = num_buckets / 2;
  if (n < max_exact) return ret + n;
  // torch computes the logarithm in float32 and truncates toward zero.
  const float scaled = std::log(float(n) / float(max_exact)) /
                       float(std::log(double(max_distance) / double(max_exact))) *
                       float(num_buckets - max_exact);
  const int large = std::min(max_exact + int(scaled), num_buckets - 1);
  return ret + large;
}

std::vector<float> relative_bias_table(const std::vector<float>& bucket_weights, int num_buckets,
                                       int n_heads, int max_len) {
  const int span = 2 * max_len - 1;
  std::vector<float> t(size_t(n_heads) * size_t(span));
  for (int r = 0; r < span; ++r) {
    const int b = relative_position_bucket(r - (max_len - 1), num_buckets);
    for (int h = 0; h < n_heads; ++h)
      t[size_t(h) * size_t(span) + size_t(r)] = bucket_weights[size_t(b) * size_t(n_heads) + size_t(h)];
  }
  return t;
}

}  // namespace ember
