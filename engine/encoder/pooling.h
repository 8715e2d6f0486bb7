#pragma once
// sentence-transformers' mean pooling and its Normalize module, on the host.
#include <cstddef>
#include <vector>

namespace ember {

// The mean of `rows` rows of `dim` floats (every token of one text, special tokens included, as
// the attention mask counts them), then, when `normalize`, divided by its L2 norm (at least
// 1e-12, as torch.nn.functional.normalize does).
std::vector<float> mean_pool(const float* rows_data, size_t rows, size_t dim, bool normalize);

}  // namespace ember
