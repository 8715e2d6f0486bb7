#pragma once
// cuBLASLt GEMM for out[M, N] = x[M, K] · w[N, K]ᵀ (+ bias[N]), row-major, fp32 accumulation.
// The algorithm for a shape is chosen once with the heuristic API and cached with its
// descriptors; the workspace is allocated once. One instance per stream; not thread-safe.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <tuple>

struct cublasLtContext;

namespace ember::cuda {

class GemmLt {
 public:
  explicit GemmLt(size_t workspace_bytes = size_t(32) << 20);
  ~GemmLt();
  GemmLt(const GemmLt&) = delete;
  GemmLt& operator=(const GemmLt&) = delete;

  // Types are numbered as ember::DType: x and w share one of F32, F16, BF16; out is that type
  // or F32; bias (optional, [N]) has out's type, as cuBLASLt's bias epilogue requires. F32
  // inputs run in full fp32 (no TF32), the reference mode for tiny models.
  void run(const void* x, const void* w, const void* bias, void* out, int64_t M, int64_t N,
           int64_t K, int in_dtype, int out_dtype, cudaStream_t s);

  size_t cached_plans() const { return plans_.size(); }

 private:
  struct Plan;
  using Key = std::tuple<int64_t, int64_t, int64_t, int, int, int, int>;  // M N K in out bias align
  Plan& plan_for(const Key& key);

  cublasLtContext* handle_ = nullptr;
  void* workspace_ = nullptr;
  size_t workspace_bytes_ = 0;
  std::map<Key, std::unique_ptr<Plan>> plans_;
};

}  // namespace ember::cuda
