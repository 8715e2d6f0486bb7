#pragma once
// The net layer's names for the shared JSON writer (engine/core/json_text.h).
#include <string>
#include <string_view>

#include "engine/core/json_text.h"

namespace ember::net::http {

inline void append_json_string(std::string& out, std::string_view s) { json::append_string(out, s); }
inline std::string json_string(std::string_view s) { return json::quote(s); }
inline std::string json_number(double v) { return json::number(v); }
using json::utf8_complete_prefix;

}  // namespace ember::net::http
