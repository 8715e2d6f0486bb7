#include "kernels/cublaslt_api.h"

#include <cuda_runtime_api.h>
#include <dlfcn.h>

#include <filesystem>
#include <string>

#include "engine/core/error.h"

namespace ember::cuda {

namespace {

const std::string kLibName = "libcublasLt.so." + std::to_string(CUBLAS_VER_MAJOR);

void* open_library() {
  if (void* h = ::dlopen(kLibName.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
  std::string errors = ::dlerror();
  // Beside libcudart, which the binary links (its folder is often not on the search path).
  Dl_info info{};
  if (::dladdr(reinterpret_cast<void*>(&cudaGetDeviceCount), &info) && info.dli_fname) {
    const std::string beside =
        (std::filesystem::path(info.dli_fname).parent_path() / kLibName).string();
    if (void* h = ::dlopen(beside.c_str(), RTLD_NOW | RTLD_LOCAL)) return h;
    errors += "; " + std::string(::dlerror());
  }
  fail("cuBLASLt: cannot open {}: {}", kLibName, errors);
}

template <class F>
void bind(void* lib, F& fn, const char* name) {
  fn = reinterpret_cast<F>(::dlsym(lib, name));
  if (!fn) fail("cuBLASLt: {} has no symbol {}", kLibName, name);
}

CublasLtApi load() {
  void* lib = open_library();  // kept open for the life of the process
  CublasLtApi a{};
  bind(lib, a.Create, "cublasLtCreate");
  bind(lib, a.Destroy, "cublasLtDestroy");
  bind(lib, a.GetStatusString, "cublasLtGetStatusString");
  bind(lib, a.Matmul, "cublasLtMatmul");
  bind(lib, a.MatmulAlgoGetHeuristic, "cublasLtMatmulAlgoGetHeuristic");
  bind(lib, a.MatmulDescCreate, "cublasLtMatmulDescCreate");
  bind(lib, a.MatmulDescDestroy, "cublasLtMatmulDescDestroy");
  bind(lib, a.MatmulDescSetAttribute, "cublasLtMatmulDescSetAttribute");
  bind(lib, a.MatmulPreferenceCreate, "cublasLtMatmulPreferenceCreate");
  bind(lib, a.MatmulPreferenceDestroy, "cublasLtMatmulPreferenceDestroy");
  bind(lib, a.MatmulPreferenceSetAttribute, "cublasLtMatmulPreferenceSetAttribute");
  bind(lib, a.MatrixLayoutCreate, "cublasLtMatrixLayoutCreate");
  bind(lib, a.MatrixLayoutDestroy, "cublasLtMatrixLayoutDestroy");
  return a;
}

}  // namespace

const CublasLtApi& cublaslt() {
  static const CublasLtApi api = load();  // a failed load throws, and the next call retries
  return api;
}

}  // namespace ember::cuda
