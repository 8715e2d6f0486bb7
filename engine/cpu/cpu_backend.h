#pragma once
// The CPU backend: the reference implementation of the op set. Activations are F32, the KV cache
// F32 (or BF16 when asked); weights stay in their file dtype (F32, F16, BF16; F8_E4M3 through a
// slow path) and every product accumulates in fp32. Ops run on a thread pool; inner loops use
// AVX2+FMA when the CPU has it (chosen at run time) and a portable scalar path otherwise.
#include <memory>

#include "engine/model/backend.h"

namespace ember {

struct CpuBackendOptions {
  int threads = 0;         // 0: one per hardware thread
  bool allow_simd = true;  // false forces the portable scalar path (tests compare the two)
};

std::unique_ptr<Backend> make_cpu_backend(int threads = 0);
std::unique_ptr<Backend> make_cpu_backend(const CpuBackendOptions& options);

// Whether this CPU runs the AVX2+FMA path (when allowed).
bool cpu_has_avx2();

}  // namespace ember
