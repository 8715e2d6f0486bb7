#pragma once
// safetensors files mapped read-only into memory; the JSON header is parsed with simdjson and
// every tensor's dtype, shape and byte range validated before any byte is used.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "engine/core/dtype.h"

namespace ember {

struct TensorView {
  std::string name;
  DType dtype = DType::F32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // inside the mapping; valid while its file is open
  size_t nbytes = 0;
  std::string file;  // which file holds it, for error messages

  int64_t numel() const {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
  }
};

// Drops this process's resident pages of a mapped tensor's first `bytes` bytes (all of it by
// default; whole pages inside that range only, so a neighbour sharing an edge page is untouched);
// reading them again faults them back in from the file. For a tensor a backend has copied: its
// mapped pages would stay in RSS as a second copy.
void release_resident(const TensorView& t, size_t bytes = SIZE_MAX);

class SafetensorsFile {
 public:
  // Maps and validates PATH. Throws ember::Error naming the file (and the tensor) on any defect:
  // short file, header length past the end, malformed JSON, unknown dtype, shape/byte-range
  // mismatch, overlapping or out-of-bounds offsets.
  static std::unique_ptr<SafetensorsFile> open(const std::string& path);
  ~SafetensorsFile();
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const std::string& path() const { return path_; }
  const std::map<std::string, TensorView>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  size_t file_size() const { return size_; }

 private:
  SafetensorsFile() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t size_ = 0;
  std::map<std::string, TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

struct LoadProgress {
  size_t bytes_mapped = 0, bytes_total = 0;
  size_t tensors_checked = 0, tensors_total = 0;
};
using ProgressFn = std::function<void(const LoadProgress&)>;

// All safetensors files of a model directory: model.safetensors, or the shards listed in
// model.safetensors.index.json (every listed file must exist and hold what the index says).
class WeightFiles {
 public:
  static WeightFiles open(const std::string& model_dir, const ProgressFn& progress = {});
  const TensorView* find(const std::string& name) const;  // nullptr when absent
  const TensorView& get(const std::string& name) const;   // throws naming the tensor
  const std::map<std::string, const TensorView*>& all() const { return index_; }
  size_t total_bytes() const;

 private:
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, const TensorView*> index_;
};

// Writes tensors (already in their dtype's byte layout) to a safetensors file. Used by
// `ember make-model` and by tests that build corrupted files.
struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
void write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace ember
