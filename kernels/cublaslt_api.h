#pragma once
// cuBLASLt, opened at run time. Linked at load time, libcublasLt's static initialisers cost every
// ember process about 200 MB of RSS (146 MB of heap and 61 MB of the library's pages, measured
// with CUDA 13), CPU-only runs included; opened on first use, only a process that makes a CUDA
// backend pays it. The functions ember calls, as pointers with the library's own signatures.
#include <cublasLt.h>

namespace ember::cuda {

struct CublasLtApi {
  decltype(&cublasLtCreate) Create;
  decltype(&cublasLtDestroy) Destroy;
  decltype(&cublasLtGetStatusString) GetStatusString;
  decltype(&cublasLtMatmul) Matmul;
  decltype(&cublasLtMatmulAlgoGetHeuristic) MatmulAlgoGetHeuristic;
  decltype(&cublasLtMatmulDescCreate) MatmulDescCreate;
  decltype(&cublasLtMatmulDescDestroy) MatmulDescDestroy;
  decltype(&cublasLtMatmulDescSetAttribute) MatmulDescSetAttribute;
  decltype(&cublasLtMatmulPreferenceCreate) MatmulPreferenceCreate;
  decltype(&cublasLtMatmulPreferenceDestroy) MatmulPreferenceDestroy;
  decltype(&cublasLtMatmulPreferenceSetAttribute) MatmulPreferenceSetAttribute;
  decltype(&cublasLtMatrixLayoutCreate) MatrixLayoutCreate;
  decltype(&cublasLtMatrixLayoutDestroy) MatrixLayoutDestroy;
};

// Opens libcublasLt.so.<major> on first call (the default search path, then the folder that
// holds libcudart); throws ember::Error naming what it tried when it cannot.
const CublasLtApi& cublaslt();

}  // namespace ember::cuda
