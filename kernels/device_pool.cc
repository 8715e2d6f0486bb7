#include "kernels/device_pool.h"

#include <cuda_runtime_api.h>

#include "kernels/cuda_check.h"

namespace ember::cuda {

DevicePool::~DevicePool() { release_cached(); }

size_t DevicePool::size_class(size_t bytes) {
  size_t c = 256;
  while (c < bytes) c <<= 1;
  return c;
}

std::shared_ptr<void> DevicePool::get(size_t bytes) {
  const size_t cls = size_class(bytes);
  void* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto& list = free_[cls];
    if (!list.empty()) {
      p = list.back();
      list.pop_back();
      cached_ -= cls;
    }
    live_ += cls;
  }
  if (!p) {
    cudaError_t e = cudaMalloc(&p, cls);
    if (e == cudaErrorMemoryAllocation) {  // cached blocks of other sizes may be in the way
      (void)cudaGetLastError();
      release_cached();
      e = cudaMalloc(&p, cls);
    }
    if (e != cudaSuccess) {
      std::lock_guard<std::mutex> lock(mu_);
      live_ -= cls;
      EMBER_CUDA_CHECK(e);
    }
  }
  std::shared_ptr<DevicePool> self = shared_from_this();
  return std::shared_ptr<void>(p, [self, cls](void* q) { self->put(q, cls); });
}

void DevicePool::put(void* p, size_t cls) {
  std::lock_guard<std::mutex> lock(mu_);
  free_[cls].push_back(p);
  cached_ += cls;
  live_ -= cls;
}

size_t DevicePool::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cached_;
}

size_t DevicePool::live_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return live_;
}

void DevicePool::release_cached() {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& [cls, list] : free_)
    for (void* p : list) cudaFree(p);
  free_.clear();
  cached_ = 0;
}

}  // namespace ember::cuda
