#pragma once
// Typed reads of JSON object fields (simdjson DOM) whose errors name the file and the key, so a
// bad config says "config.json: hidden_size must be an integer, got string" rather than a bare
// simdjson error code. Internal to engine/model.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <simdjson.h>

#include "engine/core/error.h"

namespace ember::json {

std::string_view type_name(simdjson::dom::element_type t);

class Fields {
 public:
  Fields(simdjson::dom::object obj, std::string source) : obj_(obj), src_(std::move(source)) {}

  const std::string& source() const { return src_; }
  simdjson::dom::object object() const { return obj_; }
  // The field, or nullopt when it is absent or JSON null.
  std::optional<simdjson::dom::element> find(std::string_view key) const;

  std::optional<int64_t> opt_int(std::string_view key) const;
  std::optional<double> opt_number(std::string_view key) const;
  std::optional<bool> opt_bool(std::string_view key) const;
  std::optional<std::string> opt_string(std::string_view key) const;

  int64_t req_int(std::string_view key) const;

  [[noreturn]] void wrong_type(std::string_view key, std::string_view want,
                               simdjson::dom::element got) const;

 private:
  simdjson::dom::object obj_;
  std::string src_;
};

// Integer value of an element (accepts JSON integers only), or nullopt.
std::optional<int64_t> as_int(simdjson::dom::element e);

}  // namespace ember::json
