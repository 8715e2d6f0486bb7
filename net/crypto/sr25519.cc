#include "net/crypto/sr25519.h"

#include <charconv>
#include <cstring>

#include <sodium.h>

#include "engine/core/error.h"
#include "net/crypto/merlin.h"

namespace ember::net::crypto {
namespace {

using Scalar = std::array<uint8_t, 32>;

// The group order l, little-endian.
constexpr Scalar kOrder = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                           0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                           0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};

bool is_canonical_scalar(const uint8_t* s) {
  for (int i = 31; i >= 0; --i) {
    if (s[i] < kOrder[i]) return true;
    if (s[i] > kOrder[i]) return false;
  }
  return false;  // equal to l
}

// Steps 0-4 of the signing transcript (§1.7).
Transcript signing_transcript(std::string_view context, ByteView message, const uint8_t* pk) {
  Transcript t("SigningContext");
  t.append_message(as_bytes(""), as_bytes(context));
  t.append_message("sign-bytes", message);
  t.append_message("proto-name", as_bytes("Schnorr-sig"));
  t.append_message("sign:pk", ByteView(pk, 32));
  return t;
}

Scalar challenge_scalar(Transcript& t, std::string_view label) {
  uint8_t wide[64];
  t.challenge_bytes(label, wide);
  Scalar k;
  crypto_core_ristretto255_scalar_reduce(k.data(), wide);
  return k;
}

PublicKey base_mult(const Scalar& s) {
  PublicKey p;
  if (crypto_scalarmult_ristretto255_base(p.data(), s.data()) != 0) p.fill(0);
  return p;
}

Transcript derivation_transcript(const std::array<uint8_t, 32>& chain_code) {
  Transcript t("SchnorrRistrettoHDKD");
  t.append_message("sign-bytes", ByteView());
  t.append_message("chain-code", chain_code);
  return t;
}

}  // namespace

std::array<uint8_t, 64> Keypair::secret_bytes() const {
  std::array<uint8_t, 64> out;
  std::memcpy(out.data(), key.data(), 32);
  std::memcpy(out.data() + 32, nonce.data(), 32);
  return out;
}

Keypair keypair_from_mini_secret(const MiniSecret& mini) {
  ensure_sodium();
  uint8_t h[64];
  crypto_hash_sha512(h, mini.data(), mini.size());
  Keypair kp;
  h[0] &= 248;
  h[31] &= 63;
  h[31] |= 64;
  // Divide the clamped 256-bit integer by 8; the low three bits are zero so this is exact.
  for (int i = 0; i < 32; ++i) {
    const uint8_t next = i < 31 ? h[i + 1] : 0;
    kp.key[i] = static_cast<uint8_t>((h[i] >> 3) | (next << 5));
  }
  std::memcpy(kp.nonce.data(), h + 32, 32);
  sodium_memzero(h, sizeof h);
  kp.public_key = base_mult(kp.key);
  return kp;
}

Keypair keypair_from_secret_bytes(ByteView secret64) {
  ensure_sodium();
  if (secret64.size() != 64) fail("sr25519 secret key: expected 64 bytes, got {}", secret64.size());
  if (!is_canonical_scalar(secret64.data()))
    fail("sr25519 secret key: the key half is not a canonical scalar (is it the ×8 polkadot-js form?)");
  Keypair kp;
  std::memcpy(kp.key.data(), secret64.data(), 32);
  std::memcpy(kp.nonce.data(), secret64.data() + 32, 32);
  kp.public_key = base_mult(kp.key);
  return kp;
}

MiniSecret random_mini_secret() {
  ensure_sodium();
  MiniSecret m;
  randombytes_buf(m.data(), m.size());
  return m;
}

Signature sign(const Keypair& kp, ByteView message, std::string_view context) {
  ensure_sodium();
  Transcript t = signing_transcript(context, message, kp.public_key.data());
  uint8_t wide[64];
  t.witness_bytes(as_bytes("signing"), kp.nonce, wide);
  Scalar r;
  crypto_core_ristretto255_scalar_reduce(r.data(), wide);
  sodium_memzero(wide, sizeof wide);
  const PublicKey R = base_mult(r);
  t.append_message("sign:R", R);
  const Scalar k = challenge_scalar(t, "sign:c");
  Scalar s;
  crypto_core_ristretto255_scalar_mul(s.data(), k.data(), kp.key.data());
  crypto_core_ristretto255_scalar_add(s.data(), s.data(), r.data());
  sodium_memzero(r.data(), r.size());
  Signature sig;
  std::memcpy(sig.data(), R.data(), 32);
  std::memcpy(sig.data() + 32, s.data(), 32);
  sig[63] |= 0x80;
  return sig;
}

std::string_view to_string(VerifyStatus s) {
  switch (s) {
    case VerifyStatus::Ok: return "ok";
    case VerifyStatus::BadLength: return "bad length";
    case VerifyStatus::NotMarkedSchnorrkel: return "signature is not marked as schnorrkel";
    case VerifyStatus::ScalarFormatError: return "signature scalar is not canonical";
    case VerifyStatus::PointDecompressionError: return "public key is not a valid ristretto255 point";
    case VerifyStatus::IdentityPublicKey: return "public key is the identity (all zero)";
    case VerifyStatus::EquationFalse: return "signature does not match";
  }
  return "unknown";
}

VerifyStatus verify(ByteView public_key, ByteView message, ByteView signature,
                    std::string_view context) {
  ensure_sodium();
  if (signature.size() != 64 || public_key.size() != 32) return VerifyStatus::BadLength;
  if ((signature[63] & 0x80) == 0) return VerifyStatus::NotMarkedSchnorrkel;
  Scalar s;
  std::memcpy(s.data(), signature.data() + 32, 32);
  s[31] &= 0x7f;
  if (!is_canonical_scalar(s.data())) return VerifyStatus::ScalarFormatError;
  if (crypto_core_ristretto255_is_valid_point(public_key.data()) != 1)
    return VerifyStatus::PointDecompressionError;
  if (sodium_is_zero(public_key.data(), 32)) return VerifyStatus::IdentityPublicKey;

  Transcript t = signing_transcript(context, message, public_key.data());
  t.append_message("sign:R", signature.first(32));
  const Scalar k = challenge_scalar(t, "sign:c");

  uint8_t sB[32], kA[32], Rp[32];
  if (crypto_scalarmult_ristretto255_base(sB, s.data()) != 0) std::memset(sB, 0, 32);
  if (crypto_scalarmult_ristretto255(kA, k.data(), public_key.data()) != 0) std::memset(kA, 0, 32);
  if (crypto_core_ristretto255_sub(Rp, sB, kA) != 0) return VerifyStatus::EquationFalse;
  return sodium_memcmp(Rp, signature.data(), 32) == 0 ? VerifyStatus::Ok : VerifyStatus::EquationFalse;
}

VerifyStatus verify_substrate(ByteView public_key, ByteView message, ByteView signature) {
  const VerifyStatus raw = verify(public_key, message, signature);
  if (raw == VerifyStatus::Ok || raw != VerifyStatus::EquationFalse) return raw;
  Bytes wrapped;
  wrapped.reserve(message.size() + 15);
  const auto open = as_bytes("<Bytes>"), close = as_bytes("</Bytes>");
  wrapped.insert(wrapped.end(), open.begin(), open.end());
  wrapped.insert(wrapped.end(), message.begin(), message.end());
  wrapped.insert(wrapped.end(), close.begin(), close.end());
  return verify(public_key, wrapped, signature) == VerifyStatus::Ok ? VerifyStatus::Ok : raw;
}

PublicKey derive_public_soft(const PublicKey& pk, const std::array<uint8_t, 32>& chain_code) {
  ensure_sodium();
  Transcript t = derivation_transcript(chain_code);
  t.append_message("public-key", pk);
  const Scalar sc = challenge_scalar(t, "HDKD-scalar");
  const PublicKey scB = base_mult(sc);
  PublicKey out;
  if (crypto_core_ristretto255_add(out.data(), pk.data(), scB.data()) != 0)
    fail("sr25519 soft derivation: invalid public key");
  return out;
}

MiniSecret derive_mini_secret_hard(const Keypair& parent, const std::array<uint8_t, 32>& chain_code) {
  Transcript t = derivation_transcript(chain_code);
  t.append_message("secret-key", parent.key);
  MiniSecret out;
  t.challenge_bytes("HDKD-hard", out);
  return out;
}

std::array<uint8_t, 32> junction_chain_code(std::string_view junction) {
  std::array<uint8_t, 32> cc{};
  uint64_t n = 0;
  auto [end, ec] = std::from_chars(junction.data(), junction.data() + junction.size(), n);
  if (!junction.empty() && ec == std::errc() && end == junction.data() + junction.size()) {
    for (int i = 0; i < 8; ++i) cc[i] = static_cast<uint8_t>(n >> (8 * i));
    return cc;
  }
  // SCALE compact length prefix, then the UTF-8 bytes.
  Bytes enc;
  const size_t len = junction.size();
  if (len < 64) {
    enc.push_back(static_cast<uint8_t>(len << 2));
  } else if (len < (1u << 14)) {
    const uint16_t v = static_cast<uint16_t>(len << 2 | 1);
    enc.push_back(static_cast<uint8_t>(v));
    enc.push_back(static_cast<uint8_t>(v >> 8));
  } else {
    fail("derivation junction too long ({} bytes)", len);
  }
  enc.insert(enc.end(), junction.begin(), junction.end());
  if (enc.size() > 32) {
    ensure_sodium();
    crypto_generichash(cc.data(), 32, enc.data(), enc.size(), nullptr, 0);
  } else {
    std::memcpy(cc.data(), enc.data(), enc.size());
  }
  return cc;
}

}  // namespace ember::net::crypto
