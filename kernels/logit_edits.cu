// The sampler's edits of a logit row before the draw, on the GPU, as engine/sample/ applies them
// on the host (sample_row: the min_tokens mask, then apply_logit_bias, then apply_penalties):
// per id, masked -> -inf, + bias, the repetition penalty if the id was seen, - (presence +
// frequency * count) if it was drawn. The host merges a row's edits by id, so each id is one
// edit and one thread; every float operation is rounded as the host rounds it (no FMA
// contraction: __fmul_rn / __fadd_rn), so the logits come out with the same bits.
#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

__global__ void logit_edits_kernel(float* __restrict__ logits, int vocab,
                                   const int32_t* __restrict__ offsets,
                                   const LogitEdit* __restrict__ edits,
                                   const RowPenalties* __restrict__ rows) {
  const int r = blockIdx.x;
  const RowPenalties p = rows[r];
  float* row = logits + int64_t(r) * vocab;
  for (int e = offsets[r] + int(threadIdx.x); e < offsets[r + 1]; e += blockDim.x) {
    const LogitEdit ed = edits[e];
    if (ed.id < 0 || ed.id >= vocab) continue;
    float l = row[ed.id];
    if (ed.flags & kEditMask) l = -INFINITY;
    if (ed.flags & kEditBias) l = __fadd_rn(l, ed.bias);
    if ((ed.flags & kEditSeen) && p.repetition != 1.f)
      l = l > 0 ? __fdiv_rn(l, p.repetition) : __fmul_rn(l, p.repetition);
    if (ed.count > 0 && (p.presence != 0.f || p.frequency != 0.f))
      l = __fsub_rn(l, __fadd_rn(p.presence, __fmul_rn(p.frequency, float(ed.count))));
    row[ed.id] = l;
  }
}

}  // namespace

void apply_logit_edits(float* logits, int rows, int vocab, const int32_t* offsets,
                       const LogitEdit* edits, const RowPenalties* row_penalties,
                       cudaStream_t s) {
  if (rows <= 0) return;
  logit_edits_kernel<<<rows, 128, 0, s>>>(logits, vocab, offsets, edits, row_penalties);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda
