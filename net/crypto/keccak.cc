#include "net/crypto/keccak.h"

#include <cstring>

namespace ember::net::crypto {
namespace {

constexpr uint64_t kRoundConstants[24] = {
    0x0000000000000001ULL, 0x0000000000008082ULL, 0x800000000000808aULL, 0x8000000080008000ULL,
    0x000000000000808bULL, 0x0000000080000001ULL, 0x8000000080008081ULL, 0x8000000000008009ULL,
    0x000000000000008aULL, 0x0000000000000088ULL, 0x0000000080008009ULL, 0x000000008000000aULL,
    0x000000008000808bULL, 0x800000000000008bULL, 0x8000000000008089ULL, 0x8000000000008003ULL,
    0x8000000000008002ULL, 0x8000000000000080ULL, 0x000000000000800aULL, 0x800000008000000aULL,
    0x8000000080008081ULL, 0x8000000000008080ULL, 0x0000000080000001ULL, 0x8000000080008008ULL};

// Rotation offsets r[x][y] from FIPS 202 table 2, indexed as x + 5y.
constexpr int kRho[25] = {0,  1,  62, 28, 27, 36, 44, 6,  55, 20, 3,  10, 43,
                          25, 39, 41, 45, 15, 21, 8,  18, 2,  61, 56, 14};

inline uint64_t rotl(uint64_t v, int n) { return n == 0 ? v : (v << n) | (v >> (64 - n)); }

void permute(uint64_t a[25]) {
  for (int round = 0; round < 24; ++round) {
    uint64_t c[5], d[5], b[25];
    for (int x = 0; x < 5; ++x) c[x] = a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20];
    for (int x = 0; x < 5; ++x) d[x] = c[(x + 4) % 5] ^ rotl(c[(x + 1) % 5], 1);
    for (int i = 0; i < 25; ++i) a[i] ^= d[i % 5];
    // rho and pi together: B[y, 2x+3y] = rot(A[x, y], r[x, y]).
    for (int x = 0; x < 5; ++x)
      for (int y = 0; y < 5; ++y) b[y + 5 * ((2 * x + 3 * y) % 5)] = rotl(a[x + 5 * y], kRho[x + 5 * y]);
    for (int y = 0; y < 5; ++y)
      for (int x = 0; x < 5; ++x)
        a[x + 5 * y] = b[x + 5 * y] ^ (~b[(x + 1) % 5 + 5 * y] & b[(x + 2) % 5 + 5 * y]);
    a[0] ^= kRoundConstants[round];
  }
}

}  // namespace

void keccak_f1600(uint8_t state[200]) {
  uint64_t lanes[25];
  for (int i = 0; i < 25; ++i) {
    uint64_t v = 0;
    for (int j = 7; j >= 0; --j) v = v << 8 | state[8 * i + j];
    lanes[i] = v;
  }
  permute(lanes);
  for (int i = 0; i < 25; ++i)
    for (int j = 0; j < 8; ++j) state[8 * i + j] = static_cast<uint8_t>(lanes[i] >> (8 * j));
}

std::array<uint8_t, 32> sha3_256(ByteView data) {
  constexpr size_t kRate = 136;
  uint8_t st[200] = {};
  size_t off = 0;
  while (data.size() - off >= kRate) {
    for (size_t i = 0; i < kRate; ++i) st[i] ^= data[off + i];
    keccak_f1600(st);
    off += kRate;
  }
  size_t rest = data.size() - off;
  for (size_t i = 0; i < rest; ++i) st[i] ^= data[off + i];
  st[rest] ^= 0x06;  // SHA-3 domain bits 01 plus the first pad10*1 bit
  st[kRate - 1] ^= 0x80;
  keccak_f1600(st);
  std::array<uint8_t, 32> out;
  std::memcpy(out.data(), st, 32);
  return out;
}

std::string sha3_256_hex(ByteView data) { return to_hex(sha3_256(data)); }

}  // namespace ember::net::crypto
