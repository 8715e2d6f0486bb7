#pragma once
// What tensor-parallel ranks exchange inside a step: the op set's all_reduce (after the
// row-split projections and the vocabulary-split embedding) and an all-gather. One object per
// rank; every rank of a group calls the same collectives in the same order (ranks step in
// lockstep). Buffers live where the rank's backend keeps its tensors: host memory for the
// in-process CPU communicator (cpu_communicator.h), device memory on the rank's stream for NCCL
// (kernels/nccl_communicator.h). Plain C++: engine/ sees no CUDA header through it.
#include <cstddef>

#include "engine/core/dtype.h"

namespace ember {

class Communicator {
 public:
  virtual ~Communicator() = default;
  virtual int rank() const = 0;
  virtual int world() const = 0;
  // In place: `data` (count elements of dtype F32 or BF16) becomes the sum over the ranks, the
  // same bits on every rank.
  virtual void all_reduce_sum(void* data, DType dtype, size_t count) = 0;
  // out (world * bytes) = every rank's `in` (bytes each), in rank order.
  virtual void all_gather(const void* in, void* out, size_t bytes) = 0;
  // A rank that failed mid-step calls this so that the others, waiting in a collective, fail
  // too instead of waiting forever; recover() readies the group for the next step once every
  // rank has left the failed one. Defaults: nothing (NCCL cannot take back a launched kernel;
  // its collectives are enqueued, not waited on, so a failing rank leaves no host thread
  // blocked).
  virtual void abort() {}
  virtual void recover() {}
};

}  // namespace ember
