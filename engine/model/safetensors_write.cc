// write_safetensors: the inverse of SafetensorsFile::open, byte-for-byte deterministic.
#include <cstdio>
#include <memory>

#include <fmt/ranges.h>

#include "engine/core/error.h"
#include "engine/core/json_text.h"
#include "engine/model/safetensors.h"

namespace ember {

void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  std::string header = "{";
  if (!metadata.empty()) {
    header += "\"__metadata__\":{";
    bool first = true;
    for (const auto& [k, v] : metadata) {
      if (!first) header += ',';
      header += json::quote(k);
      header += ':';
      header += json::quote(v);
      first = false;
    }
    header += "}";
  }
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    uint64_t numel = 1;
    for (auto d : t.shape) {
      if (d < 0) fail("{}: tensor '{}' has a negative dimension", path, t.name);
      numel *= uint64_t(d);
    }
    if (numel * dtype_size(t.dtype) != t.bytes.size())
      fail("{}: tensor '{}' has {} bytes, its shape needs {}", path, t.name, t.bytes.size(),
           numel * dtype_size(t.dtype));
    if (header.size() > 1) header += ",";
    header += json::quote(t.name);
    header += fmt::format(":{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                          dtype_name(t.dtype), fmt::join(t.shape, ","), offset,
                          offset + t.bytes.size());
    offset += t.bytes.size();
  }
  header += "}";
  // Pad with spaces so the data section starts 8-byte aligned, as the reference writer does.
  while ((8 + header.size()) % 8 != 0) header += ' ';

  std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen(path.c_str(), "wb"), &std::fclose);
  if (!f) fail("{}: cannot create", path);
  uint8_t len[8];
  for (int i = 0; i < 8; ++i) len[i] = uint8_t(uint64_t(header.size()) >> (8 * i));
  bool ok = std::fwrite(len, 1, 8, f.get()) == 8 &&
            std::fwrite(header.data(), 1, header.size(), f.get()) == header.size();
  for (const auto& t : tensors)
    ok = ok && (t.bytes.empty() ||
                std::fwrite(t.bytes.data(), 1, t.bytes.size(), f.get()) == t.bytes.size());
  ok = std::fflush(f.get()) == 0 && ok;
  if (!ok) fail("{}: write failed", path);
}

}  // namespace ember
