// Keccak/SHA3, STROBE-128 and Merlin against the public vectors in docs/sr25519.md §1.4, §4.6.
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "net/crypto/base58.h"
#include "net/crypto/bytes.h"
#include "net/crypto/keccak.h"
#include "net/crypto/merlin.h"
#include "net/crypto/strobe.h"

using namespace ember::net::crypto;

TEST(Sha3, MatchesHashlib) {
  EXPECT_EQ(sha3_256_hex(as_bytes("")), "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a");
  EXPECT_EQ(sha3_256_hex(as_bytes("abc")), "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532");
  // Lengths around the 136-byte rate exercise the padding edge cases.
  EXPECT_EQ(sha3_256_hex(as_bytes(std::string(135, 'a'))),
            "8094bb53c44cfb1e67b7c30447f9a1c33696d2463ecc1d9c92538913392843c9");
  EXPECT_EQ(sha3_256_hex(as_bytes(std::string(136, 'a'))),
            "3fc5559f14db8e453a0a3091edbd2bc25e11528d81c66fa570a4efdcc2695ee1");
  EXPECT_EQ(sha3_256_hex(as_bytes(std::string(200, 'a'))),
            "cce34485baf2bf2aca99b94833892a4f52896d3d153f7b840cc4f9fe695f1387");
}

TEST(Strobe, ConformanceSequence) {
  Strobe128 s(as_bytes("Conformance Test Protocol"));
  const std::vector<uint8_t> msg(1024, 99);
  s.meta_ad(as_bytes("ms"), false);
  s.meta_ad(as_bytes("g"), true);
  s.ad(msg, false);
  uint8_t prf1[32];
  s.meta_ad(as_bytes("prf"), false);
  s.prf(prf1, false);
  EXPECT_EQ(to_hex(prf1), "b48e645ca17c667fd5206ba57a6a228d72d8e1903814d3f17f622996d7cfefb0");
  s.meta_ad(as_bytes("key"), false);
  s.key(prf1, false);
  uint8_t prf2[32];
  s.meta_ad(as_bytes("prf"), false);
  s.prf(prf2, false);
  EXPECT_EQ(to_hex(prf2), "07e45cce8078cee259e3e375bb85d75610e2d1e1201c5f645045a194edd49ff8");
}

TEST(Strobe, ContinuationOfADifferentOperationIsRefused) {
  Strobe128 s(as_bytes("x"));
  s.meta_ad(as_bytes("a"), false);
  EXPECT_THROW(s.ad(as_bytes("b"), true), ember::Error);
}

TEST(Merlin, SimpleTranscript) {
  Transcript t("test protocol");
  t.append_message("some label", as_bytes("some data"));
  uint8_t c[32];
  t.challenge_bytes("challenge", c);
  EXPECT_EQ(to_hex(c), "d5a21972d0d5fe320c0d263fac7fffb8145aa640af6e9bca177c03c7efcf0615");
}

TEST(Merlin, ComplexTranscript) {
  Transcript t("test protocol");
  t.append_message("step1", as_bytes("some data"));
  std::vector<uint8_t> data(32, 99);
  const std::vector<uint8_t> big(1024, 99);
  for (int i = 0; i < 32; ++i) {
    t.challenge_bytes("challenge", data);
    t.append_message("bigdata", big);
    t.append_message("challengedata", data);
  }
  EXPECT_EQ(to_hex(data), "a8c933f54fae76e3f9bea93648c1308e7dfa2152dd51674ff3ca438351cf003c");
}

TEST(Merlin, WitnessBytesAreFreshEachCall) {
  Transcript t("w");
  uint8_t a[32], b[32];
  const uint8_t secret[32] = {1};
  t.witness_bytes(as_bytes("signing"), secret, a);
  t.witness_bytes(as_bytes("signing"), secret, b);
  EXPECT_NE(to_hex(a), to_hex(b));
}

TEST(Hex, RoundTripAndErrors) {
  EXPECT_EQ(to_hex(from_hex("0x00ffA1")), "00ffa1");
  EXPECT_EQ(from_hex("").size(), 0u);
  EXPECT_THROW(from_hex("abc"), ember::Error);
  EXPECT_THROW(from_hex("zz"), ember::Error);
  EXPECT_THROW((from_hex_fixed<32>("00", "key")), ember::Error);
}

TEST(Base58, LeadingZerosAndErrors) {
  const std::vector<uint8_t> d = {0, 0, 1, 2, 255};
  const std::string e = base58_encode(d);
  EXPECT_EQ(e.substr(0, 2), "11");
  EXPECT_EQ(base58_decode(e), d);
  EXPECT_EQ(base58_encode({}), "");
  EXPECT_THROW(base58_decode("abc0"), ember::Error);  // '0' is not in the alphabet
  EXPECT_THROW(base58_decode("abcl"), ember::Error);  // nor is 'l'
  EXPECT_THROW(base58_decode(std::string(300, '2')), ember::Error);
}
