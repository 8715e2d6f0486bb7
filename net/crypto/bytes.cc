#include "net/crypto/bytes.h"

#include <sodium.h>

#include "engine/core/error.h"

namespace ember::net::crypto {

std::string to_hex(ByteView b) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(b.size() * 2);
  for (uint8_t x : b) {
    out.push_back(kDigits[x >> 4]);
    out.push_back(kDigits[x & 15]);
  }
  return out;
}

static int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Bytes from_hex(std::string_view hex, std::string_view what) {
  if (hex.size() >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex.remove_prefix(2);
  if (hex.size() % 2 != 0) fail("{}: odd number of hex digits ({})", what, hex.size());
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) {
    int hi = hex_value(hex[2 * i]), lo = hex_value(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) fail("{}: not a hex digit at position {}", what, 2 * i + (hi < 0 ? 0 : 1));
    out[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return out;
}

template <size_t N>
std::array<uint8_t, N> from_hex_fixed(std::string_view hex, std::string_view what) {
  Bytes b = from_hex(hex, what);
  if (b.size() != N) fail("{}: expected {} bytes of hex, got {}", what, N, b.size());
  std::array<uint8_t, N> out;
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}
template std::array<uint8_t, 32> from_hex_fixed<32>(std::string_view, std::string_view);
template std::array<uint8_t, 64> from_hex_fixed<64>(std::string_view, std::string_view);

void ensure_sodium() {
  static const bool ok = sodium_init() >= 0;
  if (!ok) fail("libsodium failed to initialise");
}

}  // namespace ember::net::crypto
