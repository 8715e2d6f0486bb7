// Host buffers: alignment, and huge-page advice on the large ones (the "hg" flag the kernel shows
// in /proc/self/smaps for a range advised MADV_HUGEPAGE, whatever the system's THP mode).
#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include <gtest/gtest.h>

#include "engine/core/host_memory.h"

namespace ember {
namespace {

// The VmFlags line of the mapping holding `p`, or "" when none does.
std::string vm_flags_of(const void* p) {
  std::ifstream f("/proc/self/smaps");
  const auto addr = reinterpret_cast<uintptr_t>(p);
  std::string line;
  bool inside = false;
  while (std::getline(f, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {
      inside = lo <= addr && addr < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

bool has_flag(const std::string& flags, const std::string& f) {
  return (" " + flags + " ").find(" " + f + " ") != std::string::npos;
}

TEST(HostBuffer, LargeOnesAreHugePageAlignedAndAdvised) {
  const size_t n = (size_t(4) << 20) + 123;
  auto big = alloc_host_buffer(n);
  ASSERT_NE(big, nullptr);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(big.get()) % (size_t(2) << 20), 0u);
  std::memset(big.get(), 0x5a, n);  // all of it is writable
  const std::string flags = vm_flags_of(big.get());
  if (flags.empty()) GTEST_SKIP() << "/proc/self/smaps shows no VmFlags for the buffer";
  EXPECT_TRUE(has_flag(flags, "hg")) << flags;
}

TEST(HostBuffer, SmallOnesAreCacheLineAlignedAndNotAdvised) {
  for (size_t n : {size_t(0), size_t(1), size_t(100), size_t(1) << 20}) {
    auto small = alloc_host_buffer(n);
    ASSERT_NE(small, nullptr) << n;
    EXPECT_EQ(reinterpret_cast<uintptr_t>(small.get()) % 64, 0u) << n;
    std::memset(small.get(), 0x5a, n);
    const std::string flags = vm_flags_of(small.get());
    if (!flags.empty()) {
      EXPECT_FALSE(has_flag(flags, "hg")) << n << ": " << flags;
    }
  }
}

}  // namespace
}  // namespace ember
