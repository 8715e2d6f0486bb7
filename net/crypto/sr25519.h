#pragma once
// sr25519 (schnorrkel) signatures as Substrate and Bittensor use them: ristretto255 Schnorr
// signatures over a Merlin transcript with the signing context "substrate". docs/sr25519.md is
// the specification; section numbers below refer to it.
#include <array>
#include <cstdint>
#include <string_view>

#include "net/crypto/bytes.h"

namespace ember::net::crypto {

using PublicKey = std::array<uint8_t, 32>;
using Signature = std::array<uint8_t, 64>;
using MiniSecret = std::array<uint8_t, 32>;

inline constexpr std::string_view kSubstrateContext = "substrate";

struct Keypair {
  std::array<uint8_t, 32> key{};    // the secret scalar, canonical (< l)
  std::array<uint8_t, 32> nonce{};  // the secret nonce seed for signing witnesses
  PublicKey public_key{};

  // The 64-byte canonical secret key ‖ nonce (bittensor "privateKey").
  std::array<uint8_t, 64> secret_bytes() const;
};

// Ed25519-mode expansion of a 32-byte mini secret (§2.3), what Substrate and bittensor use.
Keypair keypair_from_mini_secret(const MiniSecret& mini);
// From the canonical 64-byte secret key ‖ nonce (§2.2); throws ember::Error if the key is not
// a canonical scalar.
Keypair keypair_from_secret_bytes(ByteView secret64);
// A fresh random mini secret from the OS.
MiniSecret random_mini_secret();

// Randomized schnorrkel signature (§2.1); the marker bit is set.
Signature sign(const Keypair& kp, ByteView message, std::string_view context = kSubstrateContext);

enum class VerifyStatus {
  Ok,
  BadLength,                // signature is not 64 bytes or public key is not 32 bytes
  NotMarkedSchnorrkel,      // sig[63] bit 7 clear (ed25519 or pre-audit schnorrkel signature)
  ScalarFormatError,        // s >= l
  PointDecompressionError,  // public key is not a canonical ristretto255 encoding
  IdentityPublicKey,        // the all-zero key, which "verifies" anything (§7.5)
  EquationFalse,
};
std::string_view to_string(VerifyStatus s);

// Strict schnorrkel verification of `message` exactly as given.
VerifyStatus verify(ByteView public_key, ByteView message, ByteView signature,
                    std::string_view context = kSubstrateContext);

// bittensor's Keypair.verify: the raw message, then the polkadot-js "<Bytes>msg</Bytes>" wrapping
// (§7.2). Returns the status of the raw attempt when both fail.
VerifyStatus verify_substrate(ByteView public_key, ByteView message, ByteView signature);

// Soft derivation of a public key (§2.4), used by tests to check the transcript plumbing; and
// hard derivation of a mini secret ("//junction").
PublicKey derive_public_soft(const PublicKey& pk, const std::array<uint8_t, 32>& chain_code);
MiniSecret derive_mini_secret_hard(const Keypair& parent, const std::array<uint8_t, 32>& chain_code);
// The chain code of a junction name (§2.4): u64 if numeric, else SCALE-encoded string.
std::array<uint8_t, 32> junction_chain_code(std::string_view junction);

}  // namespace ember::net::crypto
