#include "kernels/nccl_communicator.h"

#include <cuda_runtime_api.h>

#include <set>

#include "engine/core/error.h"
#include "kernels/cuda_check.h"

#ifdef EMBER_HAVE_NCCL
#include <nccl.h>
#endif

namespace ember {

int cuda_device_count() {
  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return count;
}

void cuda_use_device(int device) { EMBER_CUDA_CHECK(cudaSetDevice(device)); }

#ifdef EMBER_HAVE_NCCL

bool nccl_available() { return true; }

namespace {

void nccl_check(ncclResult_t r, const char* what) {
  if (r != ncclSuccess) fail("NCCL: {} failed: {}", what, ncclGetErrorString(r));
}

class NcclCommunicator final : public Communicator {
 public:
  NcclCommunicator(ncclComm_t comm, int rank, int world, int device, cudaStream_t stream)
      : comm_(comm), rank_(rank), world_(world), device_(device), stream_(stream) {}
  ~NcclCommunicator() override {
    cudaSetDevice(device_);
    ncclCommDestroy(comm_);
  }
  int rank() const override { return rank_; }
  int world() const override { return world_; }

  void all_reduce_sum(void* data, DType dtype, size_t count) override {
    ncclDataType_t t;
    switch (dtype) {
      case DType::F32: t = ncclFloat32; break;
      case DType::BF16: t = ncclBfloat16; break;
      default: fail("NCCL: all_reduce of {} (F32 or BF16 only)", dtype_name(dtype));
    }
    nccl_check(ncclAllReduce(data, data, count, t, ncclSum, comm_, stream_), "ncclAllReduce");
  }

  void all_gather(const void* in, void* out, size_t bytes) override {
    nccl_check(ncclAllGather(in, out, bytes, ncclUint8, comm_, stream_), "ncclAllGather");
  }

 private:
  ncclComm_t comm_;
  int rank_, world_, device_;
  cudaStream_t stream_;
};

}  // namespace

std::vector<std::unique_ptr<Communicator>> make_nccl_communicators(
    const std::vector<CudaBackend*>& backends) {
  const int n = int(backends.size());
  if (n < 1) fail("NCCL: no ranks");
  std::vector<int> devices;
  std::set<int> distinct;
  for (CudaBackend* b : backends) {
    if (!b) fail("NCCL: a rank has no backend");
    devices.push_back(b->device());
    distinct.insert(b->device());
  }
  if (int(distinct.size()) != n) fail("NCCL: {} ranks need {} distinct GPUs", n, n);
  std::vector<ncclComm_t> comms(static_cast<size_t>(n), nullptr);
  nccl_check(ncclCommInitAll(comms.data(), n, devices.data()), "ncclCommInitAll");
  std::vector<std::unique_ptr<Communicator>> out;
  for (int r = 0; r < n; ++r)
    out.push_back(std::make_unique<NcclCommunicator>(
        comms[size_t(r)], r, n, devices[size_t(r)],
        static_cast<cudaStream_t>(backends[size_t(r)]->stream_handle())));
  return out;
}

#else  // !EMBER_HAVE_NCCL

bool nccl_available() { return false; }

std::vector<std::unique_ptr<Communicator>> make_nccl_communicators(
    const std::vector<CudaBackend*>&) {
  fail("this ember was built without NCCL (CMake found CUDA but no libnccl): GPU tensor "
       "parallelism is unavailable");
}

#endif

}  // namespace ember
