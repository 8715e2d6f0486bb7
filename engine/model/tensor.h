#pragma once
// A tensor as the op set sees it: typed memory owned by a backend (or aliasing a mapped file).
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/core/dtype.h"

namespace ember {

using Shape = std::vector<int64_t>;

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  Shape shape;
  std::shared_ptr<void> owner;  // keeps the storage alive; empty for borrowed memory

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
  size_t nbytes() const { return size_t(numel()) * dtype_size(dtype); }
  int64_t cols() const { return shape.empty() ? 1 : shape.back(); }
  int64_t rows() const { return cols() ? numel() / cols() : 0; }
  template <typename T>
  T* as() {
    return static_cast<T*>(data);
  }
  template <typename T>
  const T* as() const {
    return static_cast<const T*>(data);
  }
};

}  // namespace ember
