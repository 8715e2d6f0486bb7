#pragma once
// Writing JSON text by hand (the files and bodies we write are small, fixed in shape, and their
// key order matters for byte-identical output): string escaping and number formatting.
#include <cstddef>
#include <string>
#include <string_view>

namespace ember::json {

// Appends `s` as a JSON string literal, quotes included. Valid UTF-8 passes through unchanged;
// invalid bytes become U+FFFD so the output is always valid JSON whatever the input was.
// Control characters and DEL are escaped (\n \r \t \b \f by name, the rest as \u00xx).
void append_string(std::string& out, std::string_view s);
std::string quote(std::string_view s);

// Shortest decimal that parses back to the same double ("12.0" style for integral values, as
// Python prints floats); non-finite values become null.
std::string number(double v);

// Length of the longest prefix of `s` that does not end inside a UTF-8 sequence, so a streamed
// chunk never splits a character (clients decode each chunk on its own).
size_t utf8_complete_prefix(std::string_view s);

}  // namespace ember::json
