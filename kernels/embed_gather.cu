// Row gathers: the token embedding lookup, the logit-row gather, and dtype conversion of
// weight copies. All memory-bound; one block per row, threads striding over the columns.
#include "kernels/cuda_common.cuh"
#include "kernels/ops.h"

namespace ember::cuda {
namespace {

template <typename T>
__global__ void embed_kernel(const void* __restrict__ table, int table_dtype, int hidden,
                             const int32_t* __restrict__ tokens, int64_t first_id,
                             int64_t table_rows, T* __restrict__ out) {
  const int t = blockIdx.x;
  const int64_t r = int64_t(tokens[t]) - first_id;
  // A tensor-parallel rank holds a slice of the vocabulary: other ids embed as zero.
  const bool mine = r >= 0 && r < table_rows;
  const int64_t row = r * hidden;
  for (int i = threadIdx.x; i < hidden; i += blockDim.x)
    out[int64_t(t) * hidden + i] = mine ? from_f<T>(load_any(table, table_dtype, row + i))
                                        : from_f<T>(0.f);
}

__global__ void gather_rows_kernel(const uint8_t* __restrict__ x, size_t row_bytes,
                                   const int32_t* __restrict__ rows, uint8_t* __restrict__ out) {
  const uint8_t* src = x + size_t(rows[blockIdx.x]) * row_bytes;
  uint8_t* dst = out + size_t(blockIdx.x) * row_bytes;
  // 16-byte copies when both ends allow it; rows of our tensors almost always do.
  if (row_bytes % 16 == 0 && (reinterpret_cast<uintptr_t>(src) % 16) == 0 &&
      (reinterpret_cast<uintptr_t>(dst) % 16) == 0) {
    for (size_t i = threadIdx.x; i < row_bytes / 16; i += blockDim.x)
      reinterpret_cast<uint4*>(dst)[i] = reinterpret_cast<const uint4*>(src)[i];
  } else {
    for (size_t i = threadIdx.x; i < row_bytes; i += blockDim.x) dst[i] = src[i];
  }
}

__global__ void convert_kernel(const void* __restrict__ src, int src_dtype, void* __restrict__ dst,
                               int dst_dtype, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n;
       i += int64_t(gridDim.x) * blockDim.x) {
    const float v = load_any(src, src_dtype, i);
    switch (dst_dtype) {
      case kBF16: static_cast<__nv_bfloat16*>(dst)[i] = __float2bfloat16_rn(v); break;
      case kF16: static_cast<__half*>(dst)[i] = __float2half_rn(v); break;
      default: static_cast<float*>(dst)[i] = v; break;
    }
  }
}

}  // namespace

void embed(const void* table, int table_dtype, int hidden, int64_t first_id, int64_t table_rows,
           const int32_t* tokens, int num_tokens, void* out, int act, cudaStream_t s) {
  if (num_tokens == 0) return;
  const int threads = hidden >= 256 ? 256 : 128;
  if (act == kBF16)
    embed_kernel<<<num_tokens, threads, 0, s>>>(table, table_dtype, hidden, tokens, first_id,
                                                table_rows, static_cast<__nv_bfloat16*>(out));
  else
    embed_kernel<<<num_tokens, threads, 0, s>>>(table, table_dtype, hidden, tokens, first_id,
                                                table_rows, static_cast<float*>(out));
  EMBER_CUDA_CHECK_LAUNCH();
}

void gather_rows(const void* x, size_t row_bytes, const int32_t* rows, int num_rows, void* out,
                 cudaStream_t s) {
  if (num_rows == 0) return;
  gather_rows_kernel<<<num_rows, 128, 0, s>>>(static_cast<const uint8_t*>(x), row_bytes, rows,
                                              static_cast<uint8_t*>(out));
  EMBER_CUDA_CHECK_LAUNCH();
}

void convert(const void* src, int src_dtype, void* dst, int dst_dtype, int64_t n, cudaStream_t s) {
  if (n == 0) return;
  const unsigned blocks = unsigned(std::min<int64_t>((n + 255) / 256, 65535));
  convert_kernel<<<blocks, 256, 0, s>>>(src, src_dtype, dst, dst_dtype, n);
  EMBER_CUDA_CHECK_LAUNCH();
}

}  // namespace ember::cuda
