#pragma once
// Python str semantics that templates rely on (strip, split, case changes, character tests),
// on UTF-8 text, indexed by code point like Python.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ember::jinja::pystr {

std::vector<uint32_t> decode(std::string_view s);
std::string encode(const std::vector<uint32_t>& cps);
void append_utf8(std::string& out, uint32_t cp);

bool is_space(uint32_t cp);
uint32_t to_upper(uint32_t cp);
uint32_t to_lower(uint32_t cp);
bool is_cased_upper(uint32_t cp);
bool is_cased_lower(uint32_t cp);

// chars: nullopt strips whitespace (Python's default).
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left, bool right);
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> rsplit(std::string_view s, const std::optional<std::string>& sep, int64_t maxsplit);
std::vector<std::string> splitlines(std::string_view s);
std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string title(std::string_view s);
std::string capitalize(std::string_view s);
std::string replace(std::string_view s, std::string_view old, std::string_view repl, int64_t count);
int64_t count(std::string_view s, std::string_view sub);
// Code-point index of the first (or last) occurrence, -1 when absent.
int64_t find(std::string_view s, std::string_view sub, bool reverse);

}  // namespace ember::jinja::pystr
