#pragma once
// HTTP header names compare case-insensitively (aiohttp and starlette both treat them so).
#include <algorithm>
#include <map>
#include <string>
#include <string_view>

namespace ember::net::auth {

struct CaseInsensitiveLess {
  using is_transparent = void;
  bool operator()(std::string_view a, std::string_view b) const {
    return std::lexicographical_compare(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
      return lower(x) < lower(y);
    });
  }
  static char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
};

using HeaderMap = std::map<std::string, std::string, CaseInsensitiveLess>;

}  // namespace ember::net::auth
