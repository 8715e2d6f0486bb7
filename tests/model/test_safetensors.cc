#include "engine/model/safetensors.h"

#include <cstring>
#include <filesystem>
#include <fstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "engine/core/dtype.h"
#include "engine/core/error.h"
#include "tests/test_support.h"

namespace ember {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = ember::test::per_test_dir("ember_st");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A file with a hand-written header: length field, header text, then `data_bytes` zeros.
  std::string raw(const std::string& name, const std::string& header, size_t data_bytes,
                  std::optional<uint64_t> length_field = std::nullopt) {
    const std::string p = path(name);
    std::ofstream out(p, std::ios::binary);
    const uint64_t n = length_field.value_or(header.size());
    for (int i = 0; i < 8; ++i) out.put(char(n >> (8 * i)));
    out << header << std::string(data_bytes, '\0');
    return p;
  }

  fs::path dir_;
};

std::vector<uint8_t> f32_bytes(std::vector<float> v) {
  std::vector<uint8_t> b(v.size() * 4);
  std::memcpy(b.data(), v.data(), b.size());
  return b;
}

// Runs f, expects an ember::Error whose message holds every one of `parts`.
template <typename F>
void expect_error(F&& f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "no error thrown";
  } catch (const Error& e) {
    for (const auto& p : parts) EXPECT_THAT(e.what(), HasSubstr(p));
  }
}

TEST_F(Safetensors, WritesAndReadsBack) {
  const std::string p = path("a.safetensors");
  std::vector<uint8_t> bf = {0x80, 0x3f, 0x00, 0xc0, 0x00, 0x00};  // 1, -2, 0 in bf16
  write_safetensors(p,
                    {{"w", DType::F32, {2, 3}, f32_bytes({1, 2, 3, 4, 5, 6})},
                     {"b", DType::BF16, {3}, bf},
                     {"empty", DType::F16, {0, 4}, {}}},
                    {{"format", "pt"}});
  auto f = SafetensorsFile::open(p);
  ASSERT_EQ(f->tensors().size(), 3u);
  const TensorView& w = f->tensors().at("w");
  EXPECT_EQ(w.dtype, DType::F32);
  EXPECT_EQ(w.shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(w.nbytes, 24u);
  EXPECT_EQ(reinterpret_cast<const float*>(w.data)[5], 6.f);
  EXPECT_EQ(w.file, p);
  const TensorView& b = f->tensors().at("b");
  EXPECT_EQ(bf16_to_f32(uint16_t(b.data[2] | b.data[3] << 8)), -2.f);
  EXPECT_EQ(f->tensors().at("empty").numel(), 0);
  EXPECT_EQ(f->metadata().at("format"), "pt");
  // The data section starts 8-byte aligned, so the first tensor is aligned in the mapping.
  EXPECT_EQ(reinterpret_cast<uintptr_t>(w.data) % 8, 0u);
  EXPECT_EQ(f->file_size(), fs::file_size(p));
}

// FP8 checkpoints store E4M3 tensors; the reader maps them and their values decode exactly.
TEST_F(Safetensors, ReadsF8E4M3Tensors) {
  const std::string p = path("f8.safetensors");
  // 1, -1, 448 (the largest finite E4M3), 0.5, a subnormal 2^-9, then padding to check nbytes.
  const std::vector<uint8_t> f8 = {0x38, 0xb8, 0x7e, 0x30, 0x01};
  write_safetensors(p, {{"w", DType::F8_E4M3, {5}, f8}, {"s", DType::F32, {1}, f32_bytes({2})}});
  auto f = SafetensorsFile::open(p);
  const TensorView& w = f->tensors().at("w");
  EXPECT_EQ(w.dtype, DType::F8_E4M3);
  EXPECT_EQ(w.nbytes, 5u);
  const float want[] = {1.f, -1.f, 448.f, 0.5f, 0x1.0p-9f};
  for (size_t i = 0; i < 5; ++i) EXPECT_EQ(load_as_f32(w.data, w.dtype, i), want[i]) << i;
  EXPECT_EQ(reinterpret_cast<const float*>(f->tensors().at("s").data)[0], 2.f);
  // A byte range that does not match the shape is still caught for 1-byte dtypes.
  expect_error(
      [&] {
        SafetensorsFile::open(raw("bad.safetensors",
                                  R"({"w":{"dtype":"F8_E4M3","shape":[4],"data_offsets":[0,3]}})",
                                  3));
      },
      {"'w'"});
}

TEST_F(Safetensors, WriterRejectsWrongByteCount) {
  expect_error([&] { write_safetensors(path("x"), {{"w", DType::F32, {2}, {1, 2, 3}}}); },
               {"'w'", "3 bytes"});
}

TEST_F(Safetensors, ShortFile) {
  const std::string p = path("short.safetensors");
  std::ofstream(p) << "abc";
  expect_error([&] { SafetensorsFile::open(p); }, {p, "too short"});
}

TEST_F(Safetensors, MissingFile) {
  expect_error([&] { SafetensorsFile::open(path("nope.safetensors")); },
               {"nope.safetensors", "cannot open"});
}

TEST_F(Safetensors, HeaderLengthLargerThanFile) {
  const std::string p = raw("big.safetensors", "{}", 0, 1000);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "header length 1000", "larger than the file"});
  // A length that would wrap around when added to the file offset.
  const std::string q = raw("huge.safetensors", "{}", 0, ~uint64_t(0));
  expect_error([&] { SafetensorsFile::open(q); }, {q, "header length"});
}

TEST_F(Safetensors, CorruptedHeaderJson) {
  const std::string p = raw("bad.safetensors", "{\"w\": {\"dtype\": \"F32\", \"sha", 0);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "not valid JSON"});
  const std::string q = raw("arr.safetensors", "[1, 2]  ", 0);
  expect_error([&] { SafetensorsFile::open(q); }, {q, "must be a JSON object"});
}

TEST_F(Safetensors, BadDtype) {
  const std::string p =
      raw("dt.safetensors", R"({"w":{"dtype":"Q4_K","shape":[2],"data_offsets":[0,8]}})", 8);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "'w'", "unsupported dtype \"Q4_K\""});
}

TEST_F(Safetensors, ShapeDoesNotMatchByteRange) {
  const std::string p =
      raw("shape.safetensors", R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,20]}})",
          24);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "'w'", "needs 24 bytes", "hold 20"});
}

TEST_F(Safetensors, NegativeOrHostileShape) {
  const std::string p =
      raw("neg.safetensors", R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "'w'", "non-negative"});
  // numel * 4 wraps to 0 in 64 bits: must not be taken for an empty tensor.
  const std::string q = raw(
      "wrap.safetensors",
      R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0);
  expect_error([&] { SafetensorsFile::open(q); }, {q, "'w'"});
}

TEST_F(Safetensors, OffsetsOutsideDataSection) {
  const std::string p =
      raw("oob.safetensors", R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[8,24]}})", 16);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "'w'", "past the data section"});
  const std::string q =
      raw("rev.safetensors", R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", 16);
  expect_error([&] { SafetensorsFile::open(q); }, {q, "'w'", "end before begin"});
}

TEST_F(Safetensors, TruncatedFile) {
  const std::string p = path("trunc.safetensors");
  write_safetensors(p, {{"a", DType::F32, {4}, f32_bytes({1, 2, 3, 4})},
                        {"b", DType::F32, {4}, f32_bytes({5, 6, 7, 8})}});
  fs::resize_file(p, fs::file_size(p) - 6);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "'b'", "past the data section"});
}

TEST_F(Safetensors, OverlappingTensors) {
  const std::string p = raw(
      "overlap.safetensors",
      R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]},"b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})",
      16);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "'a'", "'b'", "overlap"});
}

TEST_F(Safetensors, DuplicateTensorName) {
  const std::string p = path("dup.safetensors");
  write_safetensors(p, {{"a", DType::F32, {1}, f32_bytes({1})},
                        {"a", DType::F32, {1}, f32_bytes({2})}});
  expect_error([&] { SafetensorsFile::open(p); }, {p, "'a'", "twice"});
}

TEST_F(Safetensors, BadMetadata) {
  const std::string p = raw("meta.safetensors", R"({"__metadata__":{"format":1}})", 0);
  expect_error([&] { SafetensorsFile::open(p); }, {p, "__metadata__.format"});
}

class ShardedFiles : public Safetensors {
 protected:
  void write_shards() {
    write_safetensors(path("model-00001-of-00002.safetensors"),
                      {{"a", DType::F32, {2}, f32_bytes({1, 2})},
                       {"b", DType::F32, {1}, f32_bytes({3})}});
    write_safetensors(path("model-00002-of-00002.safetensors"),
                      {{"c", DType::F32, {3}, f32_bytes({4, 5, 6})}});
  }
  void write_index(const std::string& weight_map) {
    std::ofstream(path("model.safetensors.index.json"))
        << R"({"metadata":{"total_size":24},"weight_map":)" << weight_map << "}";
  }
};

TEST_F(ShardedFiles, OpensEveryShardAndReportsProgress) {
  write_shards();
  write_index(R"({"a":"model-00001-of-00002.safetensors","b":"model-00001-of-00002.safetensors",
                  "c":"model-00002-of-00002.safetensors"})");
  std::vector<LoadProgress> seen;
  WeightFiles wf = WeightFiles::open(dir_.string(), [&](const LoadProgress& p) { seen.push_back(p); });
  EXPECT_EQ(wf.all().size(), 3u);
  EXPECT_EQ(reinterpret_cast<const float*>(wf.get("c").data)[2], 6.f);
  EXPECT_THAT(wf.get("c").file, HasSubstr("model-00002-of-00002"));
  EXPECT_EQ(wf.find("zzz"), nullptr);
  EXPECT_EQ(wf.total_bytes(), 24u);
  expect_error([&] { wf.get("zzz"); }, {"'zzz'", "missing"});
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen.front().bytes_mapped, 0u);
  EXPECT_EQ(seen.back().bytes_mapped, seen.back().bytes_total);
  EXPECT_EQ(seen.back().bytes_total, fs::file_size(path("model-00001-of-00002.safetensors")) +
                                         fs::file_size(path("model-00002-of-00002.safetensors")));
}

TEST_F(ShardedFiles, MissingShard) {
  write_shards();
  write_index(R"({"a":"model-00001-of-00002.safetensors","d":"model-00003-of-00003.safetensors"})");
  expect_error([&] { WeightFiles::open(dir_.string()); },
               {"model.safetensors.index.json", "model-00003-of-00003.safetensors",
                "does not exist"});
}

TEST_F(ShardedFiles, TensorInWrongShard) {
  write_shards();
  write_index(R"({"a":"model-00001-of-00002.safetensors","c":"model-00001-of-00002.safetensors"})");
  expect_error([&] { WeightFiles::open(dir_.string()); },
               {"'c'", "model-00001-of-00002.safetensors", "does not hold it"});
}

TEST_F(ShardedFiles, ShardOutsideTheFolder) {
  write_shards();
  write_index(R"({"a":"../model-00001-of-00002.safetensors"})");
  expect_error([&] { WeightFiles::open(dir_.string()); }, {"not a file in the model folder"});
}

TEST_F(ShardedFiles, BrokenIndex) {
  write_shards();
  write_index("[");
  expect_error([&] { WeightFiles::open(dir_.string()); },
               {"model.safetensors.index.json", "invalid JSON"});
}

TEST_F(Safetensors, SingleFileAndEmptyFolder) {
  expect_error([&] { WeightFiles::open(dir_.string()); },
               {dir_.string(), "no model.safetensors"});
  write_safetensors(path("model.safetensors"), {{"x", DType::BF16, {1}, {0x80, 0x3f}}});
  WeightFiles wf = WeightFiles::open(dir_.string());
  EXPECT_EQ(wf.get("x").dtype, DType::BF16);
}

}  // namespace
}  // namespace ember
