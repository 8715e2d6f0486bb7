#include "net/crypto/merlin.h"

#include <sodium.h>

#include "engine/core/error.h"

namespace ember::net::crypto {
namespace {

std::array<uint8_t, 4> le32(size_t n) {
  if (n > 0xffffffffu) fail("merlin: a transcript message must be shorter than 4 GiB ({} bytes)", n);
  return {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8), static_cast<uint8_t>(n >> 16),
          static_cast<uint8_t>(n >> 24)};
}

}  // namespace

Transcript::Transcript(ByteView label) : strobe_(as_bytes("Merlin v1.0")) {
  append_message(as_bytes("dom-sep"), label);
}

void Transcript::append_message(ByteView label, ByteView message) {
  const auto len = le32(message.size());
  strobe_.meta_ad(label, false);
  strobe_.meta_ad(len, true);
  strobe_.ad(message, false);
}

void Transcript::challenge_bytes(ByteView label, std::span<uint8_t> out) {
  const auto len = le32(out.size());
  strobe_.meta_ad(label, false);
  strobe_.meta_ad(len, true);
  strobe_.prf(out, false);
}

void Transcript::witness_bytes(ByteView label, ByteView witness, std::span<uint8_t> out) const {
  ensure_sodium();
  Strobe128 s = strobe_;
  s.meta_ad(label, false);
  s.meta_ad(le32(witness.size()), true);
  s.key(witness, false);
  uint8_t rnd[32];
  randombytes_buf(rnd, sizeof rnd);
  s.meta_ad(as_bytes("rng"), false);
  s.key(ByteView(rnd, sizeof rnd), false);
  sodium_memzero(rnd, sizeof rnd);
  s.meta_ad(le32(out.size()), false);
  s.prf(out, false);
}

}  // namespace ember::net::crypto
