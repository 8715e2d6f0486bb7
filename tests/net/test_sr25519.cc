// sr25519 against every vector in docs/sr25519.md §4, plus tampering and sign/verify round trips.
#include <string>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "net/crypto/bytes.h"
#include "net/crypto/sr25519.h"
#include "net/crypto/ss58.h"

using namespace ember::net::crypto;

namespace {

const char* kAlicePk = "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d";
const char* kBobPk = "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48";
const std::string kV1Msg = "I hereby verify that I control 5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY";
const char* kV1Sig =
    "1037eb7e51613d0dcf5930ae518819c87d655056605764840d9280984e1b7063c4566b55bf292fcab07b369d01095879"
    "b50517beca4d26e6a65866e25fec0d83";

VerifyStatus check(const std::string& pk_hex, const std::string& msg, const Bytes& sig,
                   std::string_view ctx = kSubstrateContext) {
  return verify(from_hex(pk_hex), as_bytes(msg), sig, ctx);
}

}  // namespace

TEST(Sr25519Verify, KnownGoodSignatures) {
  EXPECT_EQ(check(kAlicePk, kV1Msg, from_hex(kV1Sig)), VerifyStatus::Ok);  // V1
  EXPECT_EQ(check(kAlicePk, kV1Msg,
                  from_hex("b83881d3bd7302981ee1c504fe5b7b394682927131fc0846fd616bb40fa14d02640fd2aca7"
                           "85b4cb57904765c2e4e75f59a7dd30154c209964369912091f6981")),
            VerifyStatus::Ok);  // V2
  EXPECT_EQ(check("f84d048da2ddae2d9d8fd6763f469566e8817a26114f39408de15547f6d47805",
                  "<Bytes>message to sign</Bytes>",
                  from_hex("48ce2c90e08651adfc8ecef84e916f6d1bb51ebebd16150ee12df247841a5437951ea0f9d6"
                           "32ca165e6ab391532e75e701be6a1caa88c8a6bcca3511f55b4183")),
            VerifyStatus::Ok);  // V3
}

TEST(Sr25519Verify, BytesWrappingFallbackMatchesBittensor) {
  const Bytes pk = from_hex("f84d048da2ddae2d9d8fd6763f469566e8817a26114f39408de15547f6d47805");
  const Bytes sig = from_hex(
      "48ce2c90e08651adfc8ecef84e916f6d1bb51ebebd16150ee12df247841a5437951ea0f9d632ca165e6ab391532e75e7"
      "01be6a1caa88c8a6bcca3511f55b4183");
  // N1: strict verification of the unwrapped message fails...
  EXPECT_EQ(verify(pk, as_bytes("message to sign"), sig), VerifyStatus::EquationFalse);
  // ...and bittensor's Keypair.verify accepts it through the <Bytes> retry.
  EXPECT_EQ(verify_substrate(pk, as_bytes("message to sign"), sig), VerifyStatus::Ok);
  EXPECT_EQ(verify_substrate(pk, as_bytes("message to sign!"), sig), VerifyStatus::EquationFalse);
}

TEST(Sr25519Verify, PreAuditSignatureIsNotMarked) {
  // N2
  EXPECT_EQ(check("b4bfa1f7a5166695eb75299fd1c4c03ea212871c342f2c5dfea0902b2c246918",
                  "Verifying that I am the owner of 5G9hQLdsKQswNPgB499DeA5PkFBbgkLPJWkkS6FAM6xGQ8xD. "
                  "Hash: 221455a3\n",
                  from_hex("5a9755f069939f45d96aaf125cf5ce7ba1db998686f87f2fb3cbdea922078741a73891ba265f"
                           "70c31436e18a9acd14d189d73c12317ab6c313285cd938453202")),
            VerifyStatus::NotMarkedSchnorrkel);
}

TEST(Sr25519Verify, TamperedV1IsRejected) {
  const Bytes sig = from_hex(kV1Sig);
  std::string msg = kV1Msg;
  msg[3] ^= 1;
  EXPECT_EQ(check(kAlicePk, msg, sig), VerifyStatus::EquationFalse);
  Bytes r = sig;
  r[5] ^= 1;
  EXPECT_EQ(check(kAlicePk, kV1Msg, r), VerifyStatus::EquationFalse);
  Bytes s = sig;
  s[40] ^= 1;
  EXPECT_EQ(check(kAlicePk, kV1Msg, s), VerifyStatus::EquationFalse);
  Bytes unmarked = sig;
  unmarked[63] &= 0x7f;
  EXPECT_EQ(check(kAlicePk, kV1Msg, unmarked), VerifyStatus::NotMarkedSchnorrkel);
  EXPECT_EQ(check(kAlicePk, kV1Msg, sig, "substrate2"), VerifyStatus::EquationFalse);
  EXPECT_EQ(check(kBobPk, kV1Msg, sig), VerifyStatus::EquationFalse);
  EXPECT_EQ(check(std::string(64, 'f'), kV1Msg, sig), VerifyStatus::PointDecompressionError);
  // s + l: the same scalar mod l, but not canonical.
  const Bytes l = from_hex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010");
  Bytes big = sig;
  big[63] &= 0x7f;
  unsigned carry = 0;
  for (int i = 0; i < 32; ++i) {
    carry += big[32 + i] + l[i];
    big[32 + i] = static_cast<uint8_t>(carry);
    carry >>= 8;
  }
  ASSERT_EQ(carry, 0u);
  ASSERT_EQ(big[63] & 0x80, 0);
  big[63] |= 0x80;
  EXPECT_EQ(check(kAlicePk, kV1Msg, big), VerifyStatus::ScalarFormatError);
  // Lengths.
  EXPECT_EQ(check(kAlicePk, kV1Msg, Bytes(sig.begin(), sig.end() - 1)), VerifyStatus::BadLength);
  const Bytes pk = from_hex(kAlicePk);
  EXPECT_EQ(verify(ByteView(pk).first(31), as_bytes(kV1Msg), sig), VerifyStatus::BadLength);
}

TEST(Sr25519Verify, IdentityKeyIsRejectedEvenThoughTheEquationHolds) {
  // With A = identity, (R = r·B, s = r) satisfies s·B - k·A = R for every message (§7.5).
  Keypair fake = keypair_from_mini_secret(MiniSecret{7});
  Bytes sig(64);
  // R = key·B and s = key: a signature "by" the identity key.
  std::copy(fake.public_key.begin(), fake.public_key.end(), sig.begin());
  std::copy(fake.key.begin(), fake.key.end(), sig.begin() + 32);
  sig[63] |= 0x80;
  EXPECT_EQ(verify(Bytes(32, 0), as_bytes("anything"), sig), VerifyStatus::IdentityPublicKey);
  EXPECT_EQ(verify_substrate(Bytes(32, 0), as_bytes("anything"), sig), VerifyStatus::IdentityPublicKey);
}

TEST(Sr25519Keys, MiniSecretExpansion) {
  const auto dev = from_hex_fixed<32>("fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e", "seed");
  const Keypair kp = keypair_from_mini_secret(dev);
  EXPECT_EQ(to_hex(kp.public_key), "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a");
  EXPECT_EQ(to_hex(kp.secret_bytes()),
            "05d65584630d16cd4af6d0bec10f34bb504a5dcb62dba2122d49f5a663763d0a"
            "fd190cce74df356432b410bd64682309d6dedb27c76845daf388557cbac3ca34");
  EXPECT_EQ(ss58_encode(kp.public_key), "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV");

  MiniSecret ascii;
  const std::string s = "12345678901234567890123456789012";
  std::copy(s.begin(), s.end(), ascii.begin());
  EXPECT_EQ(to_hex(keypair_from_mini_secret(ascii).public_key),
            "741c08a06f41c596608f6774259bd9043304adfa5d3eea62760bd9be97634d63");
  // The polkadot-js pair stores key·8; ours must be that divided by 8.
  EXPECT_EQ(to_hex(keypair_from_mini_secret(ascii).nonce),
            "f98d66f39442506ff947fd911f18c7a7a5da639a63e8d3b4e233f74143d951c1");

  EXPECT_EQ(to_hex(keypair_from_mini_secret(
                       from_hex_fixed<32>("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", "s"))
                       .public_key),
            "44a996beb1eef7bdcab976ab6d2ca26104834164ecf28fb375600576fcc6eb0f");
  // Alice's well-known mini secret.
  EXPECT_EQ(to_hex(keypair_from_mini_secret(
                       from_hex_fixed<32>("e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a", "s"))
                       .public_key),
            kAlicePk);
}

TEST(Sr25519Keys, SecretBytesRoundTripAndNonCanonicalKeyRefused) {
  const Keypair kp = keypair_from_mini_secret(MiniSecret{1, 2, 3});
  const auto sec = kp.secret_bytes();
  const Keypair back = keypair_from_secret_bytes(sec);
  EXPECT_EQ(back.public_key, kp.public_key);
  auto bad = sec;
  bad[31] = 0xff;
  EXPECT_THROW(keypair_from_secret_bytes(bad), ember::Error);
  EXPECT_THROW(keypair_from_secret_bytes(ByteView(sec).first(63)), ember::Error);
}

TEST(Sr25519Keys, Derivation) {
  const Keypair dev = keypair_from_mini_secret(
      from_hex_fixed<32>("fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e", "seed"));
  EXPECT_EQ(to_hex(junction_chain_code("Alice")),
            "14416c6963650000000000000000000000000000000000000000000000000000");
  const MiniSecret alice = derive_mini_secret_hard(dev, junction_chain_code("Alice"));
  EXPECT_EQ(to_hex(alice), "e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a");
  EXPECT_EQ(to_hex(keypair_from_mini_secret(alice).public_key), kAlicePk);
  EXPECT_EQ(to_hex(keypair_from_mini_secret(derive_mini_secret_hard(dev, junction_chain_code("Bob"))).public_key),
            kBobPk);
  EXPECT_EQ(to_hex(derive_public_soft(dev.public_key, junction_chain_code("Alice"))),
            "d6c71059dbbe9ad2b0ed3f289738b800836eb425544ce694825285b958ca755e");
  EXPECT_EQ(to_hex(derive_public_soft(dev.public_key, junction_chain_code("foo"))),
            "40b9675df90efa6069ff623b0fdfcf706cd47ca7452a5056c7ad58194d23440a");
  EXPECT_EQ(to_hex(junction_chain_code("7")).substr(0, 16), "0700000000000000");
}

TEST(Sr25519Sign, RoundTripIsRandomizedAndBindsEverything) {
  const Keypair kp = keypair_from_mini_secret(random_mini_secret());
  const std::string msg = "1732456789123456789.5F.5G.uuid.hash";
  const Signature a = sign(kp, as_bytes(msg));
  const Signature b = sign(kp, as_bytes(msg));
  EXPECT_NE(a, b);
  EXPECT_TRUE(a[63] & 0x80);
  EXPECT_EQ(verify(kp.public_key, as_bytes(msg), a), VerifyStatus::Ok);
  EXPECT_EQ(verify(kp.public_key, as_bytes(msg), b), VerifyStatus::Ok);
  EXPECT_EQ(verify(kp.public_key, as_bytes(msg + "x"), a), VerifyStatus::EquationFalse);
  EXPECT_EQ(verify(kp.public_key, as_bytes(msg), a, "other"), VerifyStatus::EquationFalse);
  const Keypair other = keypair_from_mini_secret(random_mini_secret());
  EXPECT_EQ(verify(other.public_key, as_bytes(msg), a), VerifyStatus::EquationFalse);
  for (int i = 0; i < 64; ++i) {
    Signature t = a;
    t[i] ^= static_cast<uint8_t>(1u << (i % 7));
    EXPECT_NE(verify(kp.public_key, as_bytes(msg), t), VerifyStatus::Ok) << "byte " << i;
  }
  // Alice's known key signs something V1's verifier accepts.
  const Keypair alice = keypair_from_mini_secret(
      from_hex_fixed<32>("e5be9a5092b81bca64be81d212e7f2f9eba183bb7a90954f7b76361f6edb5c0a", "s"));
  EXPECT_EQ(verify(from_hex(kAlicePk), as_bytes(kV1Msg), sign(alice, as_bytes(kV1Msg))), VerifyStatus::Ok);
  // An empty message is a message too.
  EXPECT_EQ(verify(kp.public_key, {}, sign(kp, {})), VerifyStatus::Ok);
}
