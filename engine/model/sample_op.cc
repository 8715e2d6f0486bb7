// The sample op's default: the logits come to the host and the host sampler draws (a backend
// overrides it where it can draw on the device).
#include <vector>

#include "engine/core/error.h"
#include "engine/model/backend.h"
#include "engine/sample/sample_rows.h"

namespace ember {

void Backend::sample(const Tensor& logits, std::span<const RowSampling> rows, SamplerSlots& slots,
                     std::span<SampledRow> out) {
  if (logits.dtype != DType::F32 || logits.shape.size() != 2)
    fail("{} sample: logits must be F32 [rows, vocab]", name());
  thread_local std::vector<float> host;
  host.resize(size_t(logits.numel()));
  if (!host.empty()) download(logits, host.data());
  sample_rows(host.data(), logits.shape[0], int(logits.shape[1]), rows, slots, out);
}

}  // namespace ember
