#pragma once
// Device-side random fills for the benches: multi-GB KV caches are filled in place instead of
// through host vectors. Values are a hash of (seed, index), never zeros.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace ember::bench {

// Normal-ish values (sum of two uniforms) of standard deviation about `scale`.
void fill_bf16(void* p, size_t n, float scale, uint64_t seed, cudaStream_t s);
void fill_f32(float* p, size_t n, float lo, float hi, uint64_t seed, cudaStream_t s);

}  // namespace ember::bench
