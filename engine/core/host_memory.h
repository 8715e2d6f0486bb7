#pragma once
// Host memory: how much is free (for sizing the CPU backend's KV cache), and large buffers in
// huge pages.
#include <cstddef>
#include <memory>

namespace ember {

// `bytes` (rounded up) of uninitialised host memory, 64-byte aligned. Buffers of 2 MiB or more
// start on a 2 MiB boundary and are advised into transparent huge pages: one TLB entry per 2 MiB
// instead of 512, for weights streamed every step and KV blocks read in scattered order. Under
// THP "madvise" (a common distribution default) unadvised memory gets none; under "always",
// only the 2 MiB-aligned middle of an allocation, and only where a huge page is free without
// compaction. Smaller buffers would waste most of a huge page. Throws std::bad_alloc.
std::shared_ptr<void> alloc_host_buffer(size_t bytes);

// MemAvailable from /proc/meminfo (bytes); 0 when it cannot be read.
size_t host_memory_available();

}  // namespace ember
