#include "tools/ember/load_progress.h"

#include <unistd.h>

#include <cstdio>

#include <fmt/format.h>

namespace ember::cli {

std::string human_bytes(double b) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (b >= 1024 && u < 4) {
    b /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", b) : fmt::format("{:.2f} {}", b, units[u]);
}

ProgressFn terminal_progress() {
  if (!isatty(STDERR_FILENO)) return {};
  return [](const LoadProgress& p) {
    if (p.tensors_total && p.tensors_checked)
      std::fprintf(stderr, "\rchecked %zu/%zu tensors            ", p.tensors_checked,
                   p.tensors_total);
    else
      std::fprintf(stderr, "\rmapped %s of %s", human_bytes(double(p.bytes_mapped)).c_str(),
                   human_bytes(double(p.bytes_total)).c_str());
    std::fflush(stderr);
  };
}

void print_load_summary(const LoadSummary& s) {
  if (isatty(STDERR_FILENO)) std::fprintf(stderr, "\r%60s\r", "");
  const std::string weights =
      s.weight_bytes ? human_bytes(double(s.weight_bytes)) + " of weights" : "random weights";
  fmt::print(stderr, "[loaded {} on {} in {:.2f} s; KV cache {} blocks of {} tokens, {}]\n",
             weights, s.backend, s.seconds, s.kv_blocks, s.block_size, dtype_name(s.kv_dtype));
}

}  // namespace ember::cli
