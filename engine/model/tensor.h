#pragma once
// A tensor as the op set sees it: typed memory owned by a backend (or aliasing a mapped file).
#include <cstdint>
#include <memory>
#include <vector>

#include "engine/core/dtype.h"

namespace ember {

using Shape = std::vector<int64_t>;

// How a backend laid out a tensor's elements. Only matmul weights a backend prepared itself
// (Backend::prepare_matmul_weight) are ever anything but row-major, and only its own matmul reads
// them.
enum class TensorLayout : uint8_t {
  RowMajor,
  // CPU: bf16 rows in panels of 16, each k-pair of a panel one 64-byte group of 16 u32 words
  // (row r's element 2j in the low half, 2j+1 in the high half); rows past N are zero.
  CpuBf16Panels16,
};

struct Tensor {
  void* data = nullptr;
  DType dtype = DType::F32;
  Shape shape;
  std::shared_ptr<void> owner;  // keeps the storage alive; empty for borrowed memory
  TensorLayout layout = TensorLayout::RowMajor;

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
