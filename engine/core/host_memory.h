#pragma once
// How much host memory is free, for sizing the CPU backend's KV cache.
#include <cstddef>

namespace ember {

// MemAvailable from /proc/meminfo (bytes); 0 when it cannot be read.
size_t host_memory_available();

}  // namespace ember
