#include "net/auth/python_str.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <simdjson.h>

#include "engine/core/error.h"

namespace ember::net::auth {
namespace {

// Decodes one UTF-8 sequence at s[i]; advances i. Rejects overlong forms, surrogates and
// values past U+10FFFF, as Python's decoder does.
uint32_t next_code_point(std::string_view s, size_t& i) {
  const auto b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) {
    ++i;
    return b0;
  }
  int len;
  uint32_t cp;
  if ((b0 & 0xe0) == 0xc0) {
    len = 2;
    cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    len = 3;
    cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    len = 4;
    cp = b0 & 0x07;
  } else {
    fail("invalid UTF-8 byte 0x{:02x} at offset {}", b0, i);
  }
  if (i + len > s.size()) fail("truncated UTF-8 sequence at offset {}", i);
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xc0) != 0x80) fail("invalid UTF-8 continuation at offset {}", i + k);
    cp = cp << 6 | (b & 0x3f);
  }
  static constexpr uint32_t kMin[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[len] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    fail("invalid UTF-8 sequence at offset {}", i);
  i += len;
  return cp;
}

void append_escape(std::string& out, char kind, uint32_t cp, int digits) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('\\');
  out.push_back(kind);
  for (int k = digits - 1; k >= 0; --k) out.push_back(kHex[(cp >> (4 * k)) & 15]);
}

void append_str(std::string& out, const simdjson::dom::element& v, bool top);

void append_repr(std::string& out, const simdjson::dom::element& v) { append_str(out, v, false); }

void append_str(std::string& out, const simdjson::dom::element& v, bool top) {
  using simdjson::dom::element_type;
  switch (v.type()) {
    case element_type::STRING: {
      const std::string_view s = v.get_string().value_unsafe();
      out += top ? std::string(s) : python_repr(s);
      return;
    }
    case element_type::INT64: out += std::to_string(v.get_int64().value_unsafe()); return;
    case element_type::UINT64: out += std::to_string(v.get_uint64().value_unsafe()); return;
    case element_type::DOUBLE: out += python_float_repr(v.get_double().value_unsafe()); return;
    case element_type::BOOL: out += v.get_bool().value_unsafe() ? "True" : "False"; return;
    case element_type::NULL_VALUE: out += "None"; return;
    case element_type::ARRAY: {
      out.push_back('[');
      bool first = true;
      const simdjson::dom::array items = v.get_array().value_unsafe();
      for (simdjson::dom::element item : items) {
        if (!first) out += ", ";
        first = false;
        append_repr(out, item);
      }
      out.push_back(']');
      return;
    }
    case element_type::OBJECT: {
      out.push_back('{');
      bool first = true;
      const simdjson::dom::object fields = v.get_object().value_unsafe();
      for (auto field : fields) {
        if (!first) out += ", ";
        first = false;
        out += python_repr(field.key);
        out += ": ";
        append_repr(out, field.value);
      }
      out.push_back('}');
      return;
    }
  }
}

}  // namespace

bool python_isprintable(uint32_t cp) {
  const detail::CodePointRange* begin = detail::kNonPrintable;
  const detail::CodePointRange* end = begin + detail::kNonPrintableCount;
  const auto* it = std::upper_bound(begin, end, cp, [](uint32_t c, const auto& r) { return c < r.first; });
  return it == begin || cp > (it - 1)->last;
}

std::string python_repr(std::string_view s) {
  const bool has_single = s.find('\'') != std::string_view::npos;
  const bool has_double = s.find('"') != std::string_view::npos;
  const char quote = has_single && !has_double ? '"' : '\'';
  std::string out;
  out.reserve(s.size() + 2);
  out.push_back(quote);
  size_t i = 0;
  while (i < s.size()) {
    const size_t start = i;
    const uint32_t cp = next_code_point(s, i);
    if (cp == static_cast<uint32_t>(quote) || cp == '\\') {
      out.push_back('\\');
      out.push_back(static_cast<char>(cp));
    } else if (cp == '\t') {
      out += "\\t";
    } else if (cp == '\n') {
      out += "\\n";
    } else if (cp == '\r') {
      out += "\\r";
    } else if (cp < 0x20 || cp == 0x7f) {
      append_escape(out, 'x', cp, 2);
    } else if (cp < 0x7f || python_isprintable(cp)) {
      out.append(s.substr(start, i - start));
    } else if (cp <= 0xff) {
      append_escape(out, 'x', cp, 2);
    } else if (cp <= 0xffff) {
      append_escape(out, 'u', cp, 4);
    } else {
      append_escape(out, 'U', cp, 8);
    }
  }
  out.push_back(quote);
  return out;
}

std::string python_float_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v < 0 ? "-inf" : "inf";
  // Shortest round-trip digits, then CPython's layout: fixed notation when the decimal exponent
  // is in [-4, 16), scientific otherwise.
  char buf[64];
  auto res = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  std::string_view sci(buf, res.ptr - buf);
  std::string sign;
  if (!sci.empty() && sci[0] == '-') {
    sign = "-";
    sci.remove_prefix(1);
  }
  const size_t e_pos = sci.find('e');
  std::string digits;
  for (char c : sci.substr(0, e_pos))
    if (c != '.') digits.push_back(c);
  int exp10 = 0;
  std::from_chars(sci.data() + e_pos + 1 + (sci[e_pos + 1] == '+'), sci.data() + sci.size(), exp10);
  const int decpt = exp10 + 1;  // position of the decimal point relative to the digits
  std::string out = sign;
  if (decpt > -4 && decpt <= 16) {
    if (decpt <= 0) {
      out += "0." + std::string(static_cast<size_t>(-decpt), '0') + digits;
    } else if (static_cast<size_t>(decpt) >= digits.size()) {
      out += digits + std::string(decpt - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, decpt) + "." + digits.substr(decpt);
    }
  } else {
    out += digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    const int e = decpt - 1;
    out += e < 0 ? "e-" : "e+";
    const std::string mag = std::to_string(std::abs(e));
    out += (mag.size() < 2 ? "0" : "") + mag;
  }
  return out;
}

std::string python_str(const simdjson::dom::element& value) {
  std::string out;
  append_str(out, value, true);
  return out;
}

}  // namespace ember::net::auth
