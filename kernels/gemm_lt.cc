#include "kernels/gemm_lt.h"


#include <algorithm>

#include "engine/core/error.h"
#include "kernels/cublaslt_api.h"
#include "kernels/cuda_check.h"

namespace ember::cuda {
namespace {

cudaDataType_t cuda_type(int dtype) {
  switch (dtype) {
    case 0: return CUDA_R_32F;
    case 1: return CUDA_R_16F;
    case 2: return CUDA_R_16BF;
    default: fail("matmul: unsupported dtype code {}", dtype);
  }
}

// Largest power of two up to 256 that divides the address: the heuristic must not pick an
// algorithm that assumes more alignment than the operands have.
int alignment_of(const void* p, int64_t ld_bytes) {
  const uint64_t v = uint64_t(reinterpret_cast<uintptr_t>(p)) | uint64_t(ld_bytes) | 256u;
  return int(v & (~v + 1));
}

}  // namespace

struct GemmLt::Plan {
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, c = nullptr;
  cublasLtMatmulAlgo_t algo{};
  ~Plan() {
    if (desc) cublaslt().MatmulDescDestroy(desc);
    if (a) cublaslt().MatrixLayoutDestroy(a);
    if (b) cublaslt().MatrixLayoutDestroy(b);
    if (c) cublaslt().MatrixLayoutDestroy(c);
  }
};

GemmLt::GemmLt(size_t workspace_bytes) : workspace_bytes_(workspace_bytes) {
  EMBER_CUBLAS_CHECK(cublaslt().Create(&handle_));
  EMBER_CUDA_CHECK(cudaMalloc(&workspace_, workspace_bytes_));
}

GemmLt::~GemmLt() {
  plans_.clear();
  if (workspace_) cudaFree(workspace_);
  if (handle_) cublaslt().Destroy(handle_);
}

// Column-major view: out row-major [M, N] is D = N x M with ld N; w row-major [N, K] is
// K x N with ld K, used transposed; x row-major [M, K] is K x M with ld K. So D = wᵀ·x in
// cuBLAS terms, and the bias (one per row of D) is one per output feature.
GemmLt::Plan& GemmLt::plan_for(const Key& key) {
  auto it = plans_.find(key);
  if (it != plans_.end()) return *it->second;
  const auto [M, N, K, in_dt, out_dt, bias_dt, align] = key;
  auto p = std::make_unique<Plan>();
  const bool fp32 = in_dt == 0;
  const cublasComputeType_t compute = CUBLAS_COMPUTE_32F;  // fp32 accumulate; no TF32 for fp32
  EMBER_CUBLAS_CHECK(cublaslt().MatmulDescCreate(&p->desc, compute, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  EMBER_CUBLAS_CHECK(
      cublaslt().MatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof(ta)));
  EMBER_CUBLAS_CHECK(
      cublaslt().MatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof(tb)));
  if (bias_dt >= 0) {
    const cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_BIAS;
    EMBER_CUBLAS_CHECK(
        cublaslt().MatmulDescSetAttribute(p->desc, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof(epi)));
  }
  const cudaDataType_t it_ = cuda_type(in_dt), ot = cuda_type(out_dt);
  EMBER_CUBLAS_CHECK(cublaslt().MatrixLayoutCreate(&p->a, it_, K, N, K));
  EMBER_CUBLAS_CHECK(cublaslt().MatrixLayoutCreate(&p->b, it_, K, M, K));
  EMBER_CUBLAS_CHECK(cublaslt().MatrixLayoutCreate(&p->c, ot, N, M, N));

  cublasLtMatmulPreference_t pref = nullptr;
  EMBER_CUBLAS_CHECK(cublaslt().MatmulPreferenceCreate(&pref));
  const uint64_t ws = workspace_bytes_;
  cublaslt().MatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws,
                                       sizeof(ws));
  const uint32_t al = uint32_t(align);
  for (auto attr : {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
    cublaslt().MatmulPreferenceSetAttribute(pref, attr, &al, sizeof(al));
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t st = cublaslt().MatmulAlgoGetHeuristic(handle_, p->desc, p->a, p->b, p->c,
                                                           p->c, pref, 1, &result, &found);
  cublaslt().MatmulPreferenceDestroy(pref);
  if (st != CUBLAS_STATUS_SUCCESS || found == 0)
    fail("matmul: cuBLASLt has no algorithm for M={} N={} K={} in={} out={}{} (status {})", M, N,
         K, in_dt, out_dt, fp32 ? " fp32" : "", int(st));
  p->algo = result.algo;
  return *plans_.emplace(key, std::move(p)).first->second;
}

void GemmLt::run(const void* x, const void* w, const void* bias, void* out, int64_t M, int64_t N,
                 int64_t K, int in_dtype, int out_dtype, cudaStream_t s) {
  if (M == 0 || N == 0) return;
  const int in_size = in_dtype == 0 ? 4 : 2, out_size = out_dtype == 0 ? 4 : 2;
  int align = std::min({alignment_of(x, K * in_size), alignment_of(w, K * in_size),
                        alignment_of(out, N * out_size)});
  Plan& p = plan_for(Key{M, N, K, in_dtype, out_dtype, bias ? out_dtype : -1, align});
  if (bias)
    EMBER_CUBLAS_CHECK(cublaslt().MatmulDescSetAttribute(p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER,
                                                      &bias, sizeof(bias)));
  const float alpha = 1.f, beta = 0.f;
  EMBER_CUBLAS_CHECK(cublaslt().Matmul(handle_, p.desc, &alpha, w, p.a, x, p.b, &beta, out, p.c, out,
                                    p.c, &p.algo, workspace_, workspace_bytes_, s));
}

}  // namespace ember::cuda
