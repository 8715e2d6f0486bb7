#pragma once
// A cache of device blocks for activations: freed blocks go back to a free list by size class
// (powers of two), so a loop of steady shapes stops calling cudaMalloc after its first pass.
// Tensors hold a shared_ptr to the pool, so it outlives the backend if they do.
#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace ember::cuda {

class DevicePool : public std::enable_shared_from_this<DevicePool> {
 public:
  ~DevicePool();
  // A block of at least `bytes`; its owner returns it to the pool when the last copy goes.
  std::shared_ptr<void> get(size_t bytes);
  size_t cached_bytes() const;
  size_t live_bytes() const;
  void release_cached();  // cudaFree every block not in use

 private:
  static size_t size_class(size_t bytes);
  void put(void* p, size_t cls);

  mutable std::mutex mu_;
  std::map<size_t, std::vector<void*>> free_;
  size_t cached_ = 0, live_ = 0;
};

}  // namespace ember::cuda
