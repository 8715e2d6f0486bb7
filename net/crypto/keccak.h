#pragma once
// Keccak-f[1600] (FIPS 202) and SHA3-256 on top of it. Merlin/STROBE needs the bare permutation;
// the axon body hash needs SHA3-256.
#include <array>
#include <cstdint>
#include <string>

#include "net/crypto/bytes.h"

namespace ember::net::crypto {

// Permutes a 200-byte state in place; lane (x, y) is the little-endian u64 at byte 8*(x+5y).
void keccak_f1600(uint8_t state[200]);

std::array<uint8_t, 32> sha3_256(ByteView data);
std::string sha3_256_hex(ByteView data);

}  // namespace ember::net::crypto
