// Built instead of the NCCL communicator when CMake finds no CUDA compiler, so that tools/
// links either way and --tensor-parallel-size on a GPU says why it cannot run.
#include "engine/core/error.h"
#include "kernels/nccl_communicator.h"

namespace ember {

bool nccl_available() { return false; }
int cuda_device_count() { return 0; }
void cuda_use_device(int) {}

std::vector<std::unique_ptr<Communicator>> make_nccl_communicators(
    const std::vector<CudaBackend*>&) {
  fail("this ember was built without CUDA (configure with -DEMBER_CUDA=ON where nvcc exists)");
}

}  // namespace ember
