#pragma once
// The real stories260K model in the shared assets and its reference vectors (greedy ids from BOS),
// for every test that holds a backend or a tensor-parallel split to them.
#include <cstdint>
#include <string>
#include <vector>

#include <simdjson.h>

namespace ember::test {

inline constexpr const char* kStoriesModel = "models/stories260K/hf";
inline constexpr const char* kStoriesGreedy = "models/stories260K/test-vectors/greedy_from_bos_256.json";

// The integer list `key` of the JSON file at `path` (e.g. "generated_ids", "prompt_ids").
inline std::vector<int32_t> read_json_ids(const std::string& path, const char* key) {
  simdjson::ondemand::parser parser;
  auto json = simdjson::padded_string::load(path);
  auto doc = parser.iterate(json.value());
  std::vector<int32_t> ids;
  for (auto v : doc[key].get_array()) ids.push_back(int32_t(int64_t(v.get_int64())));
  return ids;
}

}  // namespace ember::test
