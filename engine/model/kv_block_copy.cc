#include "engine/core/error.h"
#include "engine/model/backend.h"

namespace ember {

void check_kv_block_copies(const KvCacheSpec& spec,
                           std::span<const std::pair<int32_t, int32_t>> src_dst) {
  for (const auto& [src, dst] : src_dst)
    for (int32_t id : {src, dst})
      if (id < 0 || id >= spec.num_blocks)
        fail("copy_kv_blocks: block id {} outside [0, {}) (copy {} -> {})", id,
             spec.num_blocks, src, dst);
}

}  // namespace ember
