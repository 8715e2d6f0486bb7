// Token selection on the GPU: greedy argmax, and temperature / top-k / top-p sampling with a
// Philox draw keyed by (seed, step, index), following engine/sample/sampler.cc's rules: the
// candidates in (probability desc, id asc) order, top-k, then the shortest prefix with mass
// >= top_p, then the first candidate whose cumulative mass exceeds u times the kept mass.
// Each row is sorted by logit (CUB segmented radix sort, stable: equal logits keep the lower
// id first; the order of probabilities is the order of logits), then one block per row finds
// the top-p cut and the drawn id with block-wide scans over the sorted order.
#include <cub/block/block_reduce.cuh>
#include <cub/block/block_scan.cuh>
#include <cub/device/device_segmented_radix_sort.cuh>

#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"
#include "kernels/philox.h"

namespace ember::cuda {
namespace {

constexpr int kThreads = 1024;

struct MaxIdx {
  float v;
  int i;
};
struct MaxIdxOp {
  __device__ MaxIdx operator()(const MaxIdx& a, const MaxIdx& b) const {
    if (a.v > b.v || (a.v == b.v && a.i < b.i)) return a;
    return b;
  }
};

__global__ void argmax_kernel(const void* __restrict__ logits, int dtype, int vocab,
                              int32_t* __restrict__ ids) {
  using Reduce = cub::BlockReduce<MaxIdx, kThreads>;
  __shared__ typename Reduce::TempStorage tmp;
  const int64_t base = int64_t(blockIdx.x) * vocab;
  MaxIdx best{-INFINITY, vocab};
  for (int i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float v = load_any(logits, dtype, base + i);
    if (v > best.v) best = MaxIdx{v, i};  // i grows per thread: first occurrence kept
  }
  const MaxIdx r = Reduce(tmp).Reduce(best, MaxIdxOp());
  // A row of NaN or -inf only: id 0 rather than an out-of-range id.
  if (threadIdx.x == 0) ids[blockIdx.x] = r.i < vocab ? r.i : 0;
}

__global__ void prepare_kernel(const void* __restrict__ logits, int dtype, int vocab,
                               const SampleRowParams* __restrict__ params, float* __restrict__ keys,
                               int32_t* __restrict__ vals, int32_t* __restrict__ offsets) {
  const int r = blockIdx.y;
  const int64_t base = int64_t(r) * vocab;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < vocab; i += gridDim.x * blockDim.x) {
    keys[base + i] = load_any(logits, dtype, base + i);
    vals[base + i] = i;
  }
  if (blockIdx.x == 0 && threadIdx.x == 0) {
    offsets[r] = int32_t(base);
    if (r == gridDim.y - 1) offsets[r + 1] = int32_t(base + vocab);
  }
}

using Scan = cub::BlockScan<float, kThreads>;

// First index i < count whose inclusive prefix sum of exp((keys - mx) / temp) passes `threshold`
// (>= when `inclusive_ge`, else >); count - 1 when none does (rounding). Also returns that
// prefix sum. Every thread gets the same answer.
__device__ int scan_find(const float* keys, int count, float mx, float temp, float threshold,
                         bool inclusive_ge, float* prefix_out, Scan::TempStorage& tmp,
                         int* found_s, float* prefix_s) {
  float running = 0.f;
  for (int c0 = 0; c0 < count; c0 += kThreads) {
    const int i = c0 + threadIdx.x;
    const float p = i < count ? expf((keys[i] - mx) / temp) : 0.f;
    float incl, chunk_total;
    Scan(tmp).InclusiveSum(p, incl, chunk_total);
    incl += running;
    if (threadIdx.x == 0) *found_s = count;
    __syncthreads();
    const bool hit = i < count && (inclusive_ge ? incl >= threshold : incl > threshold);
    if (hit) atomicMin(found_s, i);
    __syncthreads();
    const int found = *found_s;
    if (i == found || (found == count && i == min(count, c0 + kThreads) - 1)) *prefix_s = incl;
    __syncthreads();
    const float prefix = *prefix_s;
    __syncthreads();  // found_s / prefix_s / tmp are reused by the next chunk
    if (found < count) {
      *prefix_out = prefix;
      return found;
    }
    running = prefix;  // the inclusive sum up to the chunk's last element
  }
  *prefix_out = running;
  return count - 1;
}

__global__ void select_kernel(const float* __restrict__ sorted_keys,
                              const int32_t* __restrict__ sorted_ids, int vocab,
                              const SampleRowParams* __restrict__ params, int32_t* __restrict__ ids) {
  __shared__ Scan::TempStorage tmp;
  __shared__ int found_s;
  __shared__ float prefix_s;
  const int r = blockIdx.x;
  const SampleRowParams prm = params[r];
  const float* keys = sorted_keys + int64_t(r) * vocab;
  const int32_t* order = sorted_ids + int64_t(r) * vocab;
  if (prm.temperature <= 0.f) {  // greedy: the sort put the first maximum first
    if (threadIdx.x == 0) ids[r] = order[0];
    return;
  }
  const float mx = keys[0], T = prm.temperature;
  const int k_eff = prm.top_k > 0 ? min(prm.top_k, vocab) : vocab;
  int cut = k_eff;
  float kept_mass;
  if (prm.top_p < 1.f) {
    float total;
    scan_find(keys, k_eff, mx, T, INFINITY, true, &total, tmp, &found_s, &prefix_s);
    cut = scan_find(keys, k_eff, mx, T, prm.top_p * total, true, &kept_mass, tmp, &found_s,
                    &prefix_s) + 1;
  } else {
    scan_find(keys, k_eff, mx, T, INFINITY, true, &kept_mass, tmp, &found_s, &prefix_s);
  }
  const double u = philox_uniform(prm.seed, prm.step, prm.index, 0u);
  float unused;
  const int j = scan_find(keys, cut, mx, T, float(u * double(kept_mass)), false, &unused, tmp,
                          &found_s, &prefix_s);
  if (threadIdx.x == 0) ids[r] = order[j];
}

struct Workspace {
  float *keys_in, *keys_out;
  int32_t *vals_in, *vals_out, *offsets;
  void* cub_tmp;
  size_t cub_bytes;
};

size_t align_up(size_t n) { return (n + 255) / 256 * 256; }

size_t cub_temp_bytes(int rows, int vocab) {
  size_t bytes = 0;
  const int32_t* offs = nullptr;
  EMBER_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      nullptr, bytes, static_cast<const float*>(nullptr), static_cast<float*>(nullptr),
      static_cast<const int32_t*>(nullptr), static_cast<int32_t*>(nullptr), int64_t(rows) * vocab,
      rows, offs, offs + 1));
  return bytes;
}

Workspace carve(void* base, int rows, int vocab) {
  const size_t n = size_t(rows) * vocab;
  auto* p = static_cast<unsigned char*>(base);
  Workspace w;
  w.keys_in = reinterpret_cast<float*>(p), p += align_up(n * 4);
  w.keys_out = reinterpret_cast<float*>(p), p += align_up(n * 4);
  w.vals_in = reinterpret_cast<int32_t*>(p), p += align_up(n * 4);
  w.vals_out = reinterpret_cast<int32_t*>(p), p += align_up(n * 4);
  w.offsets = reinterpret_cast<int32_t*>(p), p += align_up((rows + 1) * 4);
  w.cub_tmp = p;
  w.cub_bytes = cub_temp_bytes(rows, vocab);
  return w;
}

}  // namespace

void argmax(const void* logits, int dtype, int rows, int vocab, int32_t* ids, cudaStream_t s) {
  if (rows == 0) return;
  argmax_kernel<<<rows, kThreads, 0, s>>>(logits, dtype, vocab, ids);
  EMBER_CUDA_CHECK_LAUNCH();
}

size_t sample_workspace_bytes(int rows, int vocab) {
  const size_t n = size_t(rows) * vocab;
  return 4 * align_up(n * 4) + align_up((rows + 1) * 4) + align_up(cub_temp_bytes(rows, vocab));
}

void sample(const void* logits, int dtype, int rows, int vocab, const SampleRowParams* params,
            void* workspace, size_t workspace_bytes, int32_t* ids, cudaStream_t s) {
  if (rows == 0) return;
  if (workspace_bytes < sample_workspace_bytes(rows, vocab))
    throw_cuda_error(cudaErrorInvalidValue, "sample: workspace too small", __FILE__, __LINE__);
  const Workspace w = carve(workspace, rows, vocab);
  prepare_kernel<<<dim3(ceil_div(vocab, 256 * 8), rows), 256, 0, s>>>(
      logits, dtype, vocab, params, w.keys_in, w.vals_in, w.offsets);
  EMBER_CUDA_CHECK_LAUNCH();
  size_t bytes = w.cub_bytes;
  EMBER_CUDA_CHECK(cub::DeviceSegmentedRadixSort::SortPairsDescending(
      w.cub_tmp, bytes, w.keys_in, w.keys_out, w.vals_in, w.vals_out, int64_t(rows) * vocab, rows,
      w.offsets, w.offsets + 1, 0, int(sizeof(float) * 8), s));
  select_kernel<<<rows, kThreads, 0, s>>>(w.keys_out, w.vals_out, vocab, params, ids);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda
