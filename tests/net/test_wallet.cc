// Wallet layout and the hotkey JSON format (docs/axon-protocol.md §7).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>

#include <gtest/gtest.h>

#include "engine/core/error.h"
#include "net/auth/wallet.h"
#include "net/crypto/bytes.h"
#include "net/crypto/ss58.h"
#include "tests/test_support.h"

using namespace ember::net;
using namespace ember::net::auth;
namespace fs = std::filesystem;

namespace {
const char* kDevSeed = "fac7959dbfe72f052e5a0c3c8d6530f202b02fd8f9f5ca3580ec8deb7797479e";

struct WalletTest : ::testing::Test {
  fs::path dir;
  void SetUp() override {
    dir = ember::test::per_test_dir("ember_wallet");
    fs::remove_all(dir);
  }
  void TearDown() override { fs::remove_all(dir); }
};
}  // namespace

TEST_F(WalletTest, DefaultsFollowTheSdk) {
  ::unsetenv("BT_WALLET_PATH");
  ::unsetenv("BT_WALLET_NAME");
  ::unsetenv("BT_WALLET_HOTKEY");
  const WalletLocation w = WalletLocation::defaults();
  EXPECT_EQ(w.path, "~/.bittensor/wallets");
  EXPECT_EQ(w.name, "default");
  EXPECT_EQ(w.hotkey, "default");
  ::setenv("HOME", "/home/miner", 1);
  EXPECT_EQ(w.hotkey_file(), fs::path("/home/miner/.bittensor/wallets/default/hotkeys/default"));
  ::setenv("BT_WALLET_NAME", "cold1", 1);
  EXPECT_EQ(WalletLocation::defaults().name, "cold1");
  ::unsetenv("BT_WALLET_NAME");
}

TEST_F(WalletTest, JsonMatchesTheBittensorKeyfile) {
  const Hotkey hk = hotkey_from_seed(crypto::from_hex_fixed<32>(kDevSeed, "seed"));
  const std::string json = hotkey_to_json(hk);
  EXPECT_NE(json.find(R"("accountId": "0x46ebddef8cd9bb167dc30878d7113b7e168e6f0646beffd77d69d39bad76b47a")"),
            std::string::npos);
  EXPECT_NE(json.find(R"("publicKey": "0x46ebddef)"), std::string::npos);
  EXPECT_NE(json.find(R"("privateKey": "0x05d65584630d16cd4af6d0bec10f34bb504a5dcb62dba2122d49f5a663763d0afd190cce)"),
            std::string::npos);
  EXPECT_NE(json.find(std::string(R"("secretSeed": "0x)") + kDevSeed + "\""), std::string::npos);
  EXPECT_NE(json.find(R"("ss58Address": "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV")"), std::string::npos);
  const Hotkey back = parse_hotkey_json(json, "t");
  EXPECT_EQ(back.keypair.public_key, hk.keypair.public_key);
  EXPECT_EQ(back.keypair.secret_bytes(), hk.keypair.secret_bytes());
}

TEST_F(WalletTest, PrivateKeyOnlyAndMismatches) {
  const Hotkey hk = hotkey_from_seed(crypto::from_hex_fixed<32>(kDevSeed, "seed"));
  const std::string priv = "0x" + crypto::to_hex(hk.keypair.secret_bytes());
  const Hotkey only = parse_hotkey_json(R"({"privateKey": ")" + priv + R"("})", "t");
  EXPECT_EQ(only.keypair.public_key, hk.keypair.public_key);
  EXPECT_FALSE(only.seed.has_value());
  EXPECT_THROW(parse_hotkey_json(R"({"secretSeed": "0x)" + std::string(kDevSeed) +
                                     R"(", "ss58Address": "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"})",
                                 "t"),
               ember::Error);
  EXPECT_THROW(parse_hotkey_json(R"({"secretSeed": "0x)" + std::string(kDevSeed) + R"(", "publicKey": "0x)" +
                                     std::string(64, '1') + R"("})",
                                 "t"),
               ember::Error);
  EXPECT_THROW(parse_hotkey_json(R"({"ss58Address": "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"})", "t"),
               ember::Error);
  EXPECT_THROW(parse_hotkey_json(R"({"secretSeed": "0x12"})", "t"), ember::Error);
  try {
    parse_hotkey_json("$NACL...", "hk");
    FAIL();
  } catch (const ember::Error& e) {
    EXPECT_NE(std::string(e.what()).find("encrypted"), std::string::npos);
  }
}

TEST_F(WalletTest, SaveLoadAndRefuseOverwrite) {
  WalletLocation w{dir.string(), "miner", "hk1"};
  const Hotkey hk = hotkey_from_seed(crypto::random_mini_secret());
  save_hotkey(w, hk, false);
  const fs::path f = dir / "miner" / "hotkeys" / "hk1";
  ASSERT_TRUE(fs::exists(f));
  EXPECT_TRUE(fs::exists(dir / "miner" / "hotkeys" / "hk1pub.txt"));
  struct stat st;
  ASSERT_EQ(::stat(f.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(load_hotkey(f).keypair.public_key, hk.keypair.public_key);
  const Hotkey other = hotkey_from_seed(crypto::random_mini_secret());
  EXPECT_THROW(save_hotkey(w, other, false), ember::Error);
  EXPECT_EQ(load_hotkey(f).keypair.public_key, hk.keypair.public_key);
  save_hotkey(w, other, true);
  EXPECT_EQ(load_hotkey(f).keypair.public_key, other.keypair.public_key);
  EXPECT_THROW(load_hotkey(dir / "nope"), ember::Error);
}
