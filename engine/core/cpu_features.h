#pragma once
// What the host CPU can run, probed once. In core because both the CPU backend's kernels and
// the sampler (engine/sample) pick their vector paths by it.
namespace ember {

// Whether this CPU runs the AVX2+FMA+F16C paths.
bool cpu_has_avx2();

}  // namespace ember
