#pragma once
// GPU ranks for tensor parallelism: NCCL communicators over the visible GPUs (ncclCommInitAll,
// one per rank, each enqueuing on its rank's backend stream, so a decode step's all_reduce is
// captured in that rank's CUDA graph), and binding a rank's thread to its device. Plain C++
// like cuda_backend.h. Built with NCCL when CMake finds it (EMBER_HAVE_NCCL); otherwise
// make_nccl_communicators() throws ember::Error saying so.
#include <memory>
#include <vector>

#include "engine/dist/communicator.h"
#include "kernels/cuda_backend.h"

namespace ember {

// Whether this ember was built with NCCL.
bool nccl_available();
// CUDA devices visible to this process (0 without a driver or a device).
int cuda_device_count();
// Makes `device` current on the calling thread (each rank's thread runs on its own GPU).
void cuda_use_device(int device);

// One communicator per backend, rank i over backends[i]'s device and stream. The backends must
// be on distinct devices and outlive the communicators.
std::vector<std::unique_ptr<Communicator>> make_nccl_communicators(
    const std::vector<CudaBackend*>& backends);

}  // namespace ember
