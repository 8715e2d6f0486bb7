#pragma once
// The CPU backend the CPU benchmarks run on: EMBER_BENCH_THREADS pins its thread count (default:
// every hardware thread). One thread is the quieter measurement on a shared VM.
#include <cstdlib>
#include <memory>

#include "engine/cpu/cpu_backend.h"

namespace ember {

inline std::unique_ptr<Backend> make_bench_cpu_backend() {
  const char* th = std::getenv("EMBER_BENCH_THREADS");
  return make_cpu_backend(th ? std::atoi(th) : 0);
}

}  // namespace ember
