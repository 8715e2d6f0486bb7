#pragma once
// Python's str()/repr() of JSON values, byte for byte as CPython prints them. The axon body
// hash is sha3 over str(field value) (docs/axon-protocol.md §5), so this must match CPython.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace simdjson::dom {
class element;
}

namespace ember::net::auth {

// repr() of a str given as UTF-8. Throws ember::Error on invalid UTF-8.
std::string python_repr(std::string_view utf8);
// repr() of a float, CPython's shortest round-trip form ("1.0", "1e+16", "1.5e-05").
std::string python_float_repr(double v);
// str() of a JSON value as pydantic's model_dump() would hold it: a JSON string is a str
// (printed raw at the top level, repr'd inside containers), arrays are lists, objects dicts,
// true/false/null are True/False/None. JSON numbers keep their lexical type (int vs float).
std::string python_str(const simdjson::dom::element& value);

// True if CPython's str.isprintable() holds for the code point.
bool python_isprintable(uint32_t cp);

namespace detail {
struct CodePointRange {
  uint32_t first, last;
};
extern const CodePointRange kNonPrintable[];
extern const size_t kNonPrintableCount;
}  // namespace detail

}  // namespace ember::net::auth
