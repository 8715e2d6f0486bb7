// Log-probabilities on the GPU, as engine/sample/logprobs.cc computes them on the host: per row
// of fp32 logits, shift = max + log(sum exp(l - max)) (NaN and -inf add nothing; the sum in
// double), the drawn id's logprob l - shift, and the k most likely ids (NaN left out, ties by
// ascending id) with theirs. Only these few numbers leave the device, not the row.
//
// One block per row. Each thread keeps its own k best of its strided share in a sorted local
// list (almost every logit loses to the list's last entry at once), then k rounds of a
// block-wide arg-max over the threads' list heads pick the row's k best in order.
#include <cub/block/block_reduce.cuh>

#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

constexpr int kThreads = 512;

struct Ranked {
  float v;
  int i;  // vocab: empty
};
// a ranks before b: larger logit, then lower id; an empty entry ranks last.
__device__ __forceinline__ bool before(const Ranked& a, const Ranked& b) {
  return a.v > b.v || (a.v == b.v && a.i < b.i);
}
struct MaxOp {
  __device__ float operator()(float a, float b) const { return a > b ? a : b; }
};
struct FirstOp {
  __device__ Ranked operator()(const Ranked& a, const Ranked& b) const {
    return before(a, b) ? a : b;
  }
};

__global__ void top_logprobs_kernel(const float* __restrict__ logits, int vocab,
                                    const int32_t* __restrict__ ids, int k,
                                    float* __restrict__ chosen, int32_t* __restrict__ top_ids,
                                    float* __restrict__ top_lp) {
  using MaxReduce = cub::BlockReduce<float, kThreads>;
  using SumReduce = cub::BlockReduce<double, kThreads>;
  using RankReduce = cub::BlockReduce<Ranked, kThreads>;
  __shared__ union {
    typename MaxReduce::TempStorage max;
    typename SumReduce::TempStorage sum;
    typename RankReduce::TempStorage rank;
  } tmp;
  __shared__ float max_s;
  __shared__ double shift_s;
  __shared__ Ranked pick_s;
  const int r = blockIdx.x;
  const float* row = logits + int64_t(r) * vocab;

  float m = -INFINITY;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) m = row[i] > m ? row[i] : m;  // NaN: no
  m = MaxReduce(tmp.max).Reduce(m, MaxOp());
  if (threadIdx.x == 0) max_s = m;
  __syncthreads();
  m = max_s;
  double z = 0;
  if (isfinite(m))
    for (int i = threadIdx.x; i < vocab; i += blockDim.x)
      if (isfinite(row[i])) z += double(expf(row[i] - m));
  z = SumReduce(tmp.sum).Sum(z);
  if (threadIdx.x == 0) shift_s = isfinite(m) ? double(m) + log(z) : double(INFINITY);
  __syncthreads();
  const double shift = shift_s;
  const auto logprob = [&](float l) {
    return (isnan(l) || !isfinite(shift)) ? -INFINITY : float(double(l) - shift);
  };
  if (threadIdx.x == 0) {
    const int32_t id = ids[r];
    chosen[r] = id >= 0 && id < vocab ? logprob(row[id]) : -INFINITY;
  }
  if (k <= 0) return;

  Ranked mine[kMaxTopLogprobs];
  int held = 0;
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = row[i];
    if (isnan(v)) continue;
    const Ranked c{v, i};
    if (held == k && !before(c, mine[k - 1])) continue;
    int at = held < k ? held++ : k - 1;  // ids ascend per thread: an equal logit stays behind
    while (at > 0 && before(c, mine[at - 1])) {
      mine[at] = mine[at - 1];
      --at;
    }
    mine[at] = c;
  }
  int head = 0;
  for (int j = 0; j < k; ++j) {
    const Ranked offer = head < held ? mine[head] : Ranked{-INFINITY, vocab};
    const Ranked best = RankReduce(tmp.rank).Reduce(offer, FirstOp());
    if (threadIdx.x == 0) pick_s = best;
    __syncthreads();
    const Ranked p = pick_s;
    if (head < held && mine[head].i == p.i) ++head;  // the owner moves to its next
    if (threadIdx.x == 0) {
      const bool real = p.i < vocab;
      top_ids[int64_t(r) * k + j] = real ? p.i : -1;
      top_lp[int64_t(r) * k + j] = real ? logprob(p.v) : -INFINITY;
    }
    __syncthreads();  // pick_s and tmp are reused by the next round
  }
}

}  // namespace

void top_logprobs(const float* logits, int rows, int vocab, const int32_t* ids, int k,
                  float* chosen, int32_t* top_ids, float* top_lp, cudaStream_t s) {
  if (k < 0 || k > kMaxTopLogprobs)
    throw_cuda_error(cudaErrorInvalidValue, "top_logprobs: k must be in [0, 20]", __FILE__,
                     __LINE__);
  if (rows <= 0) return;
  top_logprobs_kernel<<<rows, kThreads, 0, s>>>(logits, vocab, ids, k, chosen, top_ids, top_lp);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda
