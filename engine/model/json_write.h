#pragma once
// Writing JSON text by hand (the files we write are small and their key order matters for
// byte-identical output). Internal to engine/model.
#include <cstdio>
#include <string>
#include <string_view>

namespace ember::json {

// `s` as a JSON string literal, quotes included. UTF-8 passes through unchanged.
inline std::string quote(std::string_view s) {
  std::string out;
  out.reserve(s.size() + 2);
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += char(c);
        }
    }
  }
  out += '"';
  return out;
}

}  // namespace ember::json
