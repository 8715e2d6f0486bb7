// cuBLASLt is opened at run time (kernels/cublaslt_api.h): the library is found and every
// function ember calls is bound, with no GPU needed; and a process that never makes a CUDA
// backend does not load it.
#include <cstdio>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "kernels/cublaslt_api.h"
#include "tests/test_support.h"

namespace {

TEST(CublasLtApi, OpensTheLibraryAndBindsItsFunctions) {
  const ember::cuda::CublasLtApi& api = ember::cuda::cublaslt();
  // A call through a bound pointer reaches the library (its text for a status is its own).
  ASSERT_NE(api.GetStatusString(CUBLAS_STATUS_NOT_INITIALIZED), nullptr);
  EXPECT_STRNE(api.GetStatusString(CUBLAS_STATUS_NOT_INITIALIZED), "");
  EXPECT_STRNE(api.GetStatusString(CUBLAS_STATUS_NOT_INITIALIZED),
               api.GetStatusString(CUBLAS_STATUS_SUCCESS));
  EXPECT_EQ(&api, &ember::cuda::cublaslt());  // opened once
}

TEST(CublasLtApi, ACpuRunDoesNotLoadIt) {
  // `ember --version` exits at once: its maps show what loading alone brought in.
  const auto r = ember::test::run_command(
      "LD_DEBUG=libs " + ember::test::ember_binary() + " --version 2>&1");
  ASSERT_EQ(r.code, 0) << r.out;
  EXPECT_EQ(r.out.find("libcublasLt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("libcudart"), std::string::npos) << "LD_DEBUG gave no library list";
}

}  // namespace
