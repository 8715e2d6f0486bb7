#include "engine/encoder/pooling.h"

#include <algorithm>
#include <cmath>

namespace ember {

std::vector<float> mean_pool(const float* rows_data, size_t rows, size_t dim, bool normalize) {
  std::vector<double> sum(dim, 0.0);
  for (size_t r = 0; r < rows; ++r)
    for (size_t i = 0; i < dim; ++i) sum[i] += rows_data[r * dim + i];
  const double n = double(std::max<size_t>(rows, 1));
  double sq = 0;
  for (double& s : sum) {
    s /= n;
    sq += s * s;
  }
  const double scale = normalize ? 1.0 / std::max(std::sqrt(sq), 1e-12) : 1.0;
  std::vector<float> out(dim);
  for (size_t i = 0; i < dim; ++i) out[i] = float(sum[i] * scale);
  return out;
}

}  // namespace ember
