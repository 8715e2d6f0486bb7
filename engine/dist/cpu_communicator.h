#pragma once
// The in-process communicator: ranks are threads of one process over shared memory, so tensor
// parallelism is exact and testable on any machine. The sum is taken in rank order 0..N-1 for
// every element (in fp32, rounded once to the buffer's dtype) and written to every rank, so the
// result never depends on which thread arrives first. Each collective is two barriers: one
// after every rank has published its buffer, one after every rank's share of the work is
// written. A rank that fails calls abort(): ranks in (or entering) a barrier then throw
// ember::Error instead of waiting for it.
#include <memory>
#include <vector>

#include "engine/dist/communicator.h"

namespace ember {

// `world` communicators of one group, rank i at index i. They share state: keep them all alive
// while any is in use.
std::vector<std::unique_ptr<Communicator>> make_cpu_communicators(int world);

}  // namespace ember
