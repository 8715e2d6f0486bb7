#pragma once
// SS58 addresses (Substrate's base58 account encoding with a BLAKE2b "SS58PRE" checksum).
// Bittensor uses network prefix 42.
#include <cstdint>
#include <string>
#include <string_view>

#include "net/crypto/sr25519.h"

namespace ember::net::crypto {

inline constexpr uint16_t kBittensorSs58Prefix = 42;

struct Ss58Address {
  PublicKey public_key{};
  uint16_t prefix = 0;
};

std::string ss58_encode(const PublicKey& pk, uint16_t prefix = kBittensorSs58Prefix);
// Any valid prefix; throws ember::Error (bad base58, bad length, bad prefix, bad checksum).
Ss58Address ss58_decode_any(std::string_view address);
// As ss58_decode_any and the prefix must equal `expected_prefix`.
PublicKey ss58_decode(std::string_view address, uint16_t expected_prefix = kBittensorSs58Prefix);

}  // namespace ember::net::crypto
