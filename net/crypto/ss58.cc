#include "net/crypto/ss58.h"

#include <cstring>

#include <sodium.h>

#include "engine/core/error.h"
#include "net/crypto/base58.h"

namespace ember::net::crypto {
namespace {

std::array<uint8_t, 2> checksum(const uint8_t* payload, size_t n) {
  ensure_sodium();
  crypto_generichash_state st;
  crypto_generichash_init(&st, nullptr, 0, 64);
  crypto_generichash_update(&st, reinterpret_cast<const uint8_t*>("SS58PRE"), 7);
  crypto_generichash_update(&st, payload, n);
  uint8_t h[64];
  crypto_generichash_final(&st, h, sizeof h);
  return {h[0], h[1]};
}

}  // namespace

std::string ss58_encode(const PublicKey& pk, uint16_t prefix) {
  prefix &= 0x3fff;
  Bytes data;
  if (prefix < 64) {
    data.push_back(static_cast<uint8_t>(prefix));
  } else {
    data.push_back(static_cast<uint8_t>(((prefix & 0xfc) >> 2) | 0x40));
    data.push_back(static_cast<uint8_t>((prefix >> 8) | ((prefix & 0x03) << 6)));
  }
  data.insert(data.end(), pk.begin(), pk.end());
  const auto sum = checksum(data.data(), data.size());
  data.insert(data.end(), sum.begin(), sum.end());
  return base58_encode(data);
}

Ss58Address ss58_decode_any(std::string_view address) {
  if (address.empty()) fail("SS58 address is empty");
  Bytes d;
  try {
    d = base58_decode(address, 128);
  } catch (const Error& e) {
    fail("SS58 address '{}': {}", address.substr(0, 64), e.what());
  }
  // A 32-byte account id with a 1- or 2-byte prefix and 2 checksum bytes.
  if (d.size() != 35 && d.size() != 36)
    fail("SS58 address '{}': decodes to {} bytes, expected 35 or 36 (bad length)", address, d.size());
  Ss58Address out;
  size_t plen;
  if (d[0] <= 63) {
    plen = 1;
    out.prefix = d[0];
  } else if (d[0] <= 127) {
    plen = 2;
    const uint8_t lower = static_cast<uint8_t>((d[0] << 2) | (d[1] >> 6));
    const uint8_t upper = d[1] & 0x3f;
    out.prefix = static_cast<uint16_t>(lower | (upper << 8));
  } else {
    fail("SS58 address '{}': invalid prefix byte 0x{:02x}", address, d[0]);
  }
  if (d.size() != plen + 32 + 2)
    fail("SS58 address '{}': decodes to {} bytes, expected {} (bad length)", address, d.size(), plen + 34);
  if (out.prefix == 46 || out.prefix == 47) fail("SS58 address '{}': reserved prefix {}", address, out.prefix);
  const auto sum = checksum(d.data(), plen + 32);
  if (d[plen + 32] != sum[0] || d[plen + 33] != sum[1]) fail("SS58 address '{}': bad checksum", address);
  std::memcpy(out.public_key.data(), d.data() + plen, 32);
  return out;
}

PublicKey ss58_decode(std::string_view address, uint16_t expected_prefix) {
  const Ss58Address a = ss58_decode_any(address);
  if (a.prefix != expected_prefix)
    fail("SS58 address '{}': network prefix {} where {} is expected", address, a.prefix, expected_prefix);
  return a.public_key;
}

}  // namespace ember::net::crypto
