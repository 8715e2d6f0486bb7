// SS58 against docs/sr25519.md §4.5.
#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "net/crypto/bytes.h"
#include "net/crypto/ss58.h"

using namespace ember::net::crypto;

namespace {
struct Vec {
  const char* address;
  uint16_t prefix;
  const char* pk;
};
const Vec kVectors[] = {
    {"5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY", 42, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"},
    {"5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty", 42, "8eaf04151687736326c9fea17e25fc5287613693c912909cb226aa4794f26a48"},
    {"5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV", 42, "46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a"},
    {"15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5", 0, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"},
    {"HNZata7iMYWmk5RvZRTiAsSDhV8366zq2YGb3tLH5Upf74F", 2, "d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d"},
    {"5DA4D4GL5iakrn22h5uKoevgvo18Pqj5BcdEUv8etEDPdijA", 42, "3050f8456519829fe03302da802d22d3233a5f4037b9a3e2bcc403ccfcb2d735"},
    {"cLtA6nCDyvwKcEHH4QkZDSHMhS9s78BvUJUsKUbUAn1Jc2SCF", 65, "08e8969768fc14399930d4b8d693f68a2ff6c6a597325d6946095e5e9d9d1b0e"},
    {"cTGShekJ1L1UKFZR9xmv9UTJod7vqjFAPo4sDhXih2c3y1yLS", 66, "04a047d52fe542484c69bc528990cfeaf3a663dded0638ee1b51cf78bacd1072"},
    {"cnVRwXfAnz3RSVQyBUC8f8McrK3YBX2QYd4WoctpeSC6VTJYm", 69, "ae640d53cfa815f4a6a50ae70235cd7d9d134d0f1c3a4ccd118e321dfb6ab51f"},
    {"xw5g1Eec8LT99pZLZMaTWwrwvNtfM6vrSuZeVbtEszCDUwByg", 252, "5c64f1151f0ce4358c27238fb20c88e7c899825436f565410724c8c2c5add869"},
    {"yGF4JP7q5AK46d1FPCEm9sYQ4KooSjHMpyVAjLnsCSWVafPnf", 255, "66cd6cf085627d6c85af1aaf2bd10cf843033e929b4e3b1c2ba8e4aa46fe111b"},
    {"mHm8k9Emsvyfp3piCauSH684iA6NakctF8dySQcX94GDdrJrE", 4242, "44d5a3ac156335ea99d33a83c57c7146c40c8e2260a8a4adf4e7a86256454651"},
    {"r6Gr4gaMP8TsjhFbqvZhv3YvnasugLiRJpzpRHifsqqG18UXa", 14269, "88f01441682a17b52d6ae12d1a5670cf675fd254897efabaa5069eb3a701ab73"},
};

std::string error_of(std::string_view a) {
  try {
    ss58_decode_any(a);
  } catch (const ember::Error& e) {
    return e.what();
  }
  return "";
}
}  // namespace

TEST(Ss58, KnownAddressesBothWays) {
  for (const Vec& v : kVectors) {
    SCOPED_TRACE(v.address);
    const auto pk = from_hex_fixed<32>(v.pk, "pk");
    EXPECT_EQ(ss58_encode(pk, v.prefix), v.address);
    const Ss58Address a = ss58_decode_any(v.address);
    EXPECT_EQ(a.prefix, v.prefix);
    EXPECT_EQ(to_hex(a.public_key), v.pk);
  }
}

TEST(Ss58, DefaultPrefixIsBittensor42) {
  const auto alice = from_hex_fixed<32>(kVectors[0].pk, "pk");
  EXPECT_EQ(ss58_encode(alice), "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY");
  EXPECT_EQ(ss58_decode("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"), alice);
  EXPECT_THROW(ss58_decode("15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"), ember::Error);  // prefix 0
}

TEST(Ss58, RoundTripsRandomKeysAndPrefixes) {
  for (uint16_t prefix : {0, 1, 42, 63, 64, 100, 255, 1000, 16383}) {
    if (prefix == 46 || prefix == 47) continue;
    std::array<uint8_t, 32> pk;
    for (int i = 0; i < 32; ++i) pk[i] = static_cast<uint8_t>(prefix * 7 + i * 13);
    const Ss58Address a = ss58_decode_any(ss58_encode(pk, prefix));
    EXPECT_EQ(a.prefix, prefix);
    EXPECT_EQ(a.public_key, pk);
  }
}

TEST(Ss58, BadAddressesHaveClearErrors) {
  EXPECT_NE(error_of("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ").find("bad checksum"), std::string::npos);
  EXPECT_NE(error_of("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKut0Y").find("invalid character '0'"),
            std::string::npos);
  EXPECT_NE(error_of("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQ").find("bad length"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  EXPECT_NE(error_of("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz").find("prefix"), std::string::npos);
  EXPECT_FALSE(error_of(std::string(1000, '5')).empty());
}
