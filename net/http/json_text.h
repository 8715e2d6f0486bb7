#pragma once
// Writing JSON text by hand (the bodies we send are small and fixed in shape): string escaping
// and number formatting that round-trips.
#include <string>
#include <string_view>

namespace ember::net::http {

// Appends `s` as a JSON string literal, quotes included. Invalid UTF-8 bytes become U+FFFD so
// the output is always valid JSON whatever the model or client produced.
void append_json_string(std::string& out, std::string_view s);
std::string json_string(std::string_view s);

// Shortest decimal that parses back to the same double ("12.0" style for integral values, as
// Python prints floats).
std::string json_number(double v);

}  // namespace ember::net::http

namespace ember::net::http {

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence, so a streamed
// chunk never splits a character (clients decode each chunk on its own).
size_t utf8_complete_prefix(std::string_view s);

}  // namespace ember::net::http
