#include "engine/model/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <limits>

#include <fmt/ranges.h>
#include <simdjson.h>

#include "engine/core/error.h"
#include "engine/model/json_fields.h"

namespace ember {

namespace {

using simdjson::dom::element;
using simdjson::dom::element_type;

// The reference implementation refuses headers above 100 MB; a larger one is a corrupt length.
constexpr uint64_t kMaxHeaderBytes = 100ull << 20;

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

TensorView parse_tensor_entry(const std::string& path, std::string_view name, element e,
                              const uint8_t* data, uint64_t data_size) {
  auto bad = [&](const std::string& what) -> Error {
    return Error(fmt::format("{}: tensor '{}': {}", path, name, what));
  };
  if (e.type() != element_type::OBJECT)
    throw bad(fmt::format("entry must be an object, got {}", json::type_name(e.type())));
  simdjson::dom::object o = e.get_object();
  TensorView t;
  t.name = std::string(name);
  t.file = path;

  element dt, shape, offs;
  if (o.at_key("dtype").get(dt) || dt.type() != element_type::STRING)
    throw bad("\"dtype\" missing or not a string");
  std::string_view dts = dt.get_string();
  auto d = dtype_from_name(dts);
  if (!d) throw bad(fmt::format("unsupported dtype \"{}\"", dts));
  t.dtype = *d;

  if (o.at_key("shape").get(shape) || shape.type() != element_type::ARRAY)
    throw bad("\"shape\" missing or not an array");
  // numel in 128-bit-safe steps: a hostile shape must not wrap around to a small size.
  uint64_t numel = 1;
  for (element s : shape.get_array()) {
    auto v = json::as_int(s);
    if (!v || *v < 0) throw bad("shape entries must be non-negative integers");
    t.shape.push_back(*v);
    if (*v != 0 && numel > std::numeric_limits<uint64_t>::max() / uint64_t(*v))
      throw bad("shape is too large");
    numel *= uint64_t(*v);
  }

  if (o.at_key("data_offsets").get(offs) || offs.type() != element_type::ARRAY)
    throw bad("\"data_offsets\" missing or not an array");
  std::vector<int64_t> off;
  for (element s : offs.get_array()) {
    auto v = json::as_int(s);
    if (!v || *v < 0) throw bad("data_offsets must be non-negative integers");
    off.push_back(*v);
  }
  if (off.size() != 2) throw bad("data_offsets must hold [begin, end]");
  if (off[0] > off[1]) throw bad(fmt::format("data_offsets [{}, {}] end before begin", off[0], off[1]));
  if (uint64_t(off[1]) > data_size)
    throw bad(fmt::format("data_offsets [{}, {}] run past the data section ({} bytes)", off[0],
                          off[1], data_size));
  const uint64_t nbytes = uint64_t(off[1] - off[0]);
  const uint64_t esize = dtype_size(t.dtype);
  if (numel > std::numeric_limits<uint64_t>::max() / esize || numel * esize != nbytes)
    throw bad(fmt::format("shape [{}] of {} needs {} bytes but data_offsets [{}, {}] hold {}",
                          fmt::join(t.shape, ", "), dts, numel * esize, off[0], off[1], nbytes));
  t.data = data + off[0];
  t.nbytes = size_t(nbytes);
  return t;
}

}  // namespace

std::unique_ptr<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  Fd f;
  f.fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd < 0) fail("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) fail("{}: cannot stat: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode)) fail("{}: not a regular file", path);
  const uint64_t size = uint64_t(st.st_size);
  if (size < 8) fail("{}: file is {} bytes, too short for a safetensors header", path, size);

  std::unique_ptr<SafetensorsFile> sf(new SafetensorsFile());
  sf->path_ = path;
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, f.fd, 0);
  if (m == MAP_FAILED) fail("{}: mmap failed: {}", path, std::strerror(errno));
  sf->map_ = m;
  sf->size_ = size;

  const auto* bytes = static_cast<const uint8_t*>(m);
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = header_len << 8 | bytes[i];  // little-endian
  if (header_len > size - 8)
    fail("{}: header length {} is larger than the file ({} bytes): truncated or not safetensors",
         path, header_len, size);
  if (header_len > kMaxHeaderBytes)
    fail("{}: header length {} exceeds the {} byte limit", path, header_len, kMaxHeaderBytes);
  if (header_len < 2) fail("{}: header length {} is too small", path, header_len);

  const uint8_t* data = bytes + 8 + header_len;
  const uint64_t data_size = size - 8 - header_len;

  simdjson::padded_string header(reinterpret_cast<const char*>(bytes + 8), size_t(header_len));
  simdjson::dom::parser parser;
  element root;
  if (auto err = parser.parse(header).get(root))
    fail("{}: header is not valid JSON: {}", path, simdjson::error_message(err));
  if (root.type() != element_type::OBJECT)
    fail("{}: header must be a JSON object, got {}", path, json::type_name(root.type()));

  for (auto field : root.get_object()) {
    std::string_view key = field.key;
    if (key == "__metadata__") {
      if (field.value.type() != element_type::OBJECT)
        fail("{}: __metadata__ must be an object", path);
      for (auto kv : field.value.get_object()) {
        if (kv.value.type() != element_type::STRING)
          fail("{}: __metadata__.{} must be a string", path, kv.key);
        sf->metadata_[std::string(kv.key)] = std::string(std::string_view(kv.value.get_string()));
      }
      continue;
    }
    TensorView t = parse_tensor_entry(path, key, field.value, data, data_size);
    if (!sf->tensors_.emplace(t.name, t).second)
      fail("{}: tensor '{}' appears twice in the header", path, key);
  }

  // Byte ranges must not overlap (empty tensors occupy nothing).
  std::vector<const TensorView*> by_offset;
  for (const auto& [_, t] : sf->tensors_)
    if (t.nbytes) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorView* a, const TensorView* b) { return a->data < b->data; });
  for (size_t i = 1; i < by_offset.size(); ++i) {
    const TensorView* prev = by_offset[i - 1];
    const TensorView* cur = by_offset[i];
    if (cur->data < prev->data + prev->nbytes)
      fail("{}: tensors '{}' and '{}' overlap (bytes [{}, {}) and [{}, {}))", path, prev->name,
           cur->name, prev->data - data, prev->data - data + prev->nbytes, cur->data - data,
           cur->data - data + cur->nbytes);
  }
  return sf;
}

SafetensorsFile::~SafetensorsFile() {
  if (map_) ::munmap(map_, size_);
}

WeightFiles WeightFiles::open(const std::string& model_dir, const ProgressFn& progress) {
  namespace fs = std::filesystem;
  WeightFiles wf;
  const fs::path dir(model_dir);
  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single_path = dir / "model.safetensors";

  // Shard file name -> tensors the index places there.
  std::map<std::string, std::vector<std::string>> shards;
  if (fs::exists(index_path)) {
    const std::string ip = index_path.string();
    simdjson::padded_string text;
    if (auto err = simdjson::padded_string::load(ip).get(text))
      fail("{}: cannot read: {}", ip, simdjson::error_message(err));
    simdjson::dom::parser parser;
    element root, wm;
    if (auto err = parser.parse(text).get(root))
      fail("{}: invalid JSON: {}", ip, simdjson::error_message(err));
    if (root.type() != element_type::OBJECT || root.at_key("weight_map").get(wm) ||
        wm.type() != element_type::OBJECT)
      fail("{}: no \"weight_map\" object", ip);
    for (auto kv : wm.get_object()) {
      if (kv.value.type() != element_type::STRING)
        fail("{}: weight_map.{} must be a file name", ip, kv.key);
      std::string shard(std::string_view(kv.value.get_string()));
      // Shards live next to the index; a path that leaves the folder is not a shard name.
      if (shard.empty() || shard.find('/') != std::string::npos || shard == "..")
        fail("{}: weight_map.{} names \"{}\", not a file in the model folder", ip, kv.key,
             shard);
      shards[shard].emplace_back(kv.key);
    }
    if (shards.empty()) fail("{}: weight_map is empty", ip);
    for (const auto& [shard, _] : shards)
      if (!fs::exists(dir / shard))
        fail("{}: shard {} is listed but {} does not exist", ip, shard, (dir / shard).string());
  } else if (fs::exists(single_path)) {
    shards["model.safetensors"] = {};
  } else {
    fail("{}: no model.safetensors or model.safetensors.index.json", model_dir);
  }

  LoadProgress p;
  for (const auto& [shard, _] : shards) p.bytes_total += fs::file_size(dir / shard);
  if (progress) progress(p);

  for (const auto& [shard, names] : shards) {
    std::shared_ptr<SafetensorsFile> f = SafetensorsFile::open((dir / shard).string());
    for (const auto& n : names)
      if (!f->tensors().count(n))
        fail("{}: index.json places tensor '{}' in {}, but that file does not hold it",
             index_path.string(), n, f->path());
    for (const auto& [name, view] : f->tensors()) {
      auto [it, inserted] = wf.index_.emplace(name, &view);
      if (!inserted)
        fail("{}: tensor '{}' is also in {}", f->path(), name, it->second->file);
    }
    p.bytes_mapped += f->file_size();
    p.tensors_total = wf.index_.size();
    wf.files_.push_back(std::move(f));
    if (progress) progress(p);
  }
  return wf;
}

const TensorView* WeightFiles::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : it->second;
}

const TensorView& WeightFiles::get(const std::string& name) const {
  if (const TensorView* t = find(name)) return *t;
  std::string where = files_.size() == 1 ? files_[0]->path() : "the model's safetensors shards";
  fail("{}: tensor '{}' is missing", where, name);
}

void release_resident(const TensorView& t, size_t bytes) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(t.data) + page - 1) / page * page;
  const uintptr_t end =
      (reinterpret_cast<uintptr_t>(t.data) + std::min(bytes, t.nbytes)) / page * page;
  // Read-only mapping (PROT_READ, MAP_PRIVATE): no page was written, so none loses anything.
  if (end > begin && ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED) != 0)
    fail("{}: tensor '{}': madvise(MADV_DONTNEED) failed: {}", t.file, t.name,
         std::strerror(errno));
}

size_t WeightFiles::total_bytes() const {
  size_t n = 0;
  for (const auto& [_, t] : index_) n += t->nbytes;
  return n;
}

}  // namespace ember
