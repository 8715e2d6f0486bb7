#pragma once
// The CPU backend: the reference implementation of the op set. Activations are F32, the KV cache
// F32 (or BF16 when asked); weights stay in their file dtype (F32, F16, BF16; F8_E4M3 through a
// slow path) and every product accumulates in fp32. Ops run on a thread pool; inner loops use
// AVX2+FMA when the CPU has it (chosen at run time) and a portable scalar path otherwise.
#include <memory>

#include "engine/core/cpu_features.h"
#include "engine/model/backend.h"

namespace ember {

struct CpuBackendOptions {
  int threads = 0;         // 0: one per hardware thread
  bool allow_simd = true;  // false forces the portable scalar path (tests compare the two)
  // Round activations to bf16 where they meet bf16 weights (the packed projections), as
  // llama.cpp does and as a GPU does with bf16 activations: on CPUs with AVX-512 BF16 the dot
  // products then do twice the work per instruction (prefill ~1.6x). Off, the products are exact
  // (bf16 weights times fp32 x) and ember is the fp32 reference transformers is compared with.
  bool bf16_matmul_inputs = false;
};

std::unique_ptr<Backend> make_cpu_backend(int threads = 0);
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options);

// Whether bf16_matmul_inputs runs on AVX-512 BF16 dot products here (else on fp32 FMAs).
bool cpu_has_avx512_bf16();

}  // namespace ember
