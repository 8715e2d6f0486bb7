#pragma once
// Byte spans and hex text, the common currency of the crypto and auth code.
#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace ember::net::crypto {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Lowercase hex, no prefix.
std::string to_hex(ByteView b);
// Accepts an optional "0x"/"0X" prefix; throws ember::Error naming `what` on odd length or a
// non-hex character.
Bytes from_hex(std::string_view hex, std::string_view what = "hex");
// As from_hex, and the result must be exactly N bytes.
template <size_t N>
std::array<uint8_t, N> from_hex_fixed(std::string_view hex, std::string_view what);

// Throws ember::Error if libsodium cannot start; cheap after the first call.
void ensure_sodium();

}  // namespace ember::net::crypto
