#pragma once
// Base58 with Bitcoin's alphabet; leading zero bytes map to leading '1's.
#include <string>
#include <string_view>

#include "net/crypto/bytes.h"

namespace ember::net::crypto {

std::string base58_encode(ByteView data);
// Throws ember::Error for a character outside the alphabet or input longer than max_chars
// (the conversion is quadratic, so callers bound it).
Bytes base58_decode(std::string_view text, size_t max_chars = 256);

}  // namespace ember::net::crypto
